//! Which old segments retention deletes: whole segments only, oldest first, by time
//! (`retention.ms`), by size (`retention.bytes`) and below the log start offset; never the active
//! segment and never a segment holding offsets at or above the caller's upper bound (the high
//! watermark), so nothing a consumer has not been allowed to read yet is removed.
//!
//! The decision is a pure function of segment metadata so it can be tested without files.

/// What retention needs to know of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base_offset: i64,
    /// The offset after the segment's last batch.
    pub next_offset: i64,
    pub size: u64,
    /// The newest record timestamp in the segment (ms).
    pub largest_timestamp: i64,
}

/// The limits in force.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub now_ms: i64,
    /// -1: keep forever.
    pub retention_ms: i64,
    /// -1: no size limit.
    pub retention_bytes: i64,
    /// `cleanup.policy` includes `delete`; without it only the log start offset removes segments.
    pub delete_enabled: bool,
    pub log_start_offset: i64,
    pub upper_bound: i64,
}

/// Why the oldest segments go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Time,
    Size,
    LogStartOffset,
}

/// How many of the oldest `segments` (oldest first, the last being the active one) to delete, and
/// the reason that reached furthest.
pub fn segments_to_delete(
    segments: &[SegmentInfo],
    policy: &RetentionPolicy,
) -> (usize, Option<Reason>) {
    let Some((_active, sealed)) = segments.split_last() else {
        return (0, None);
    };
    let deletable = sealed
        .iter()
        .take_while(|s| s.next_offset <= policy.upper_bound)
        .count();
    let by_start = sealed[..deletable]
        .iter()
        .take_while(|s| s.next_offset <= policy.log_start_offset)
        .count();
    let by_time = if policy.retention_ms < 0 || !policy.delete_enabled {
        0
    } else {
        sealed[..deletable]
            .iter()
            .take_while(|s| policy.now_ms.saturating_sub(s.largest_timestamp) > policy.retention_ms)
            .count()
    };
    let by_size = if policy.retention_bytes < 0 || !policy.delete_enabled {
        0
    } else {
        let total: u64 = segments.iter().map(|s| s.size).sum();
        let mut excess = total as i128 - i128::from(policy.retention_bytes);
        let mut n = 0;
        for s in &sealed[..deletable] {
            if excess - i128::from(s.size) < 0 {
                break;
            }
            excess -= i128::from(s.size);
            n += 1;
        }
        n
    };
    let candidates = [
        (by_start, Reason::LogStartOffset),
        (by_time, Reason::Time),
        (by_size, Reason::Size),
    ];
    let (n, reason) = candidates
        .iter()
        .max_by_key(|(n, _)| *n)
        .copied()
        .unwrap_or((0, Reason::Time));
    if n == 0 { (0, None) } else { (n, Some(reason)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(base: i64, next: i64, size: u64, ts: i64) -> SegmentInfo {
        SegmentInfo {
            base_offset: base,
            next_offset: next,
            size,
            largest_timestamp: ts,
        }
    }

    fn policy() -> RetentionPolicy {
        RetentionPolicy {
            now_ms: 10_000,
            retention_ms: -1,
            retention_bytes: -1,
            delete_enabled: true,
            log_start_offset: 0,
            upper_bound: i64::MAX,
        }
    }

    #[test]
    fn time_deletes_old_sealed_segments_but_never_the_active_one() {
        let segs = [
            seg(0, 10, 100, 1_000),
            seg(10, 20, 100, 2_000),
            seg(20, 25, 50, 3_000),
        ];
        let p = RetentionPolicy {
            retention_ms: 1_000,
            ..policy()
        };
        assert_eq!(segments_to_delete(&segs, &p), (2, Some(Reason::Time)));
        let p = RetentionPolicy {
            retention_ms: 8_500,
            ..policy()
        };
        assert_eq!(segments_to_delete(&segs, &p), (1, Some(Reason::Time)));
    }

    #[test]
    fn size_deletes_oldest_while_the_rest_still_exceed_the_limit() {
        let segs = [seg(0, 10, 100, 0), seg(10, 20, 100, 0), seg(20, 25, 100, 0)];
        let p = RetentionPolicy {
            retention_bytes: 150,
            ..policy()
        };
        assert_eq!(segments_to_delete(&segs, &p), (1, Some(Reason::Size)));
        let p = RetentionPolicy {
            retention_bytes: 100,
            ..policy()
        };
        assert_eq!(segments_to_delete(&segs, &p), (2, Some(Reason::Size)));
    }

    #[test]
    fn nothing_at_or_above_the_upper_bound_goes() {
        let segs = [seg(0, 10, 100, 0), seg(10, 20, 100, 0), seg(20, 25, 100, 0)];
        let p = RetentionPolicy {
            retention_ms: 1,
            upper_bound: 15,
            ..policy()
        };
        assert_eq!(segments_to_delete(&segs, &p), (1, Some(Reason::Time)));
    }

    #[test]
    fn a_compact_only_policy_keeps_old_segments() {
        let segs = [seg(0, 10, 100, 0), seg(10, 20, 100, 0), seg(20, 25, 100, 0)];
        let p = RetentionPolicy {
            retention_ms: 1,
            retention_bytes: 1,
            delete_enabled: false,
            ..policy()
        };
        assert_eq!(segments_to_delete(&segs, &p), (0, None));
    }

    #[test]
    fn segments_below_the_log_start_offset_go() {
        let segs = [seg(0, 10, 100, 0), seg(10, 20, 100, 0), seg(20, 25, 100, 0)];
        let p = RetentionPolicy {
            log_start_offset: 12,
            ..policy()
        };
        assert_eq!(
            segments_to_delete(&segs, &p),
            (1, Some(Reason::LogStartOffset))
        );
        assert_eq!(
            segments_to_delete(
                &segs[2..],
                &RetentionPolicy {
                    log_start_offset: 30,
                    ..policy()
                }
            ),
            (0, None)
        );
    }
}
