//! The leader-epoch cache of one partition: for each leader epoch that wrote to the log, the first
//! offset it wrote. It answers OffsetForLeaderEpoch ("where did epoch E end?"), which followers use
//! to find where their log diverged from a new leader's, and KIP-320 consumers use to detect that
//! the log was truncated under them.
//!
//! It is kept as Kafka keeps it: entries are added when a leader takes over (its epoch starts at the
//! log end) and when batches of a newer epoch are appended, dropped from the end when the log is
//! truncated and from the start when the log start offset moves. It is durable in
//! `leader-epoch-checkpoint` in the partition directory, in Kafka's text format:
//!
//! ```text
//! 0                 version
//! 2                 entry count
//! 0 0               epoch start-offset
//! 3 1500
//! ```
//!
//! The batches themselves carry their epoch, so the file can always be rebuilt from the log; the log
//! does so when it is missing, and adds the epochs of a tail recovered after a crash. What must be
//! on disk is therefore only the entries that start below the recovery point (recovery does not
//! rescan there): the log writes the entries below the offset it is about to make durable
//! ([`LeaderEpochCache::to_write`]), so an epoch that has written nothing yet (a new leader of an
//! idle partition) costs no fsync.

/// The name of the checkpoint file in a partition directory.
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// Epoch and offset meaning "unknown" in OffsetForLeaderEpoch answers.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_OFFSET: i64 = -1;

/// One epoch and the first offset it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    /// Increasing in both epoch and start offset.
    entries: Vec<EpochEntry>,
    /// What the checkpoint file holds.
    on_disk: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// Records that `epoch` starts at `start_offset`. An epoch already known keeps its first
    /// offset; entries that a new epoch contradicts (a later or equal epoch, or a start at or after
    /// this one) are replaced, so both columns keep increasing. Returns whether anything changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        if let Some(latest) = self.latest()
            && latest.epoch == epoch
            && latest.start_offset <= start_offset
        {
            return false;
        }
        if self
            .entries
            .iter()
            .any(|e| e.epoch > epoch && e.start_offset <= start_offset)
        {
            // An older epoch showing up after a newer one's start (a stale batch): ignore it, as
            // Kafka does.
            return false;
        }
        self.entries
            .retain(|e| e.epoch < epoch && e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// The epoch of the leader that wrote `offset`: the latest epoch starting at or before it.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map(|e| e.epoch)
    }

    /// Kafka's answer to "where does `requested` end?": the requested epoch (or the largest known
    /// epoch below it) and the start offset of the first later epoch, or `log_end` for the latest
    /// epoch. Unknown answers are `(UNDEFINED_EPOCH, UNDEFINED_OFFSET)`.
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        }
        match self.latest() {
            Some(latest) if latest.epoch == requested => return (requested, log_end),
            None => return (UNDEFINED_EPOCH, UNDEFINED_OFFSET),
            _ => {}
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return (UNDEFINED_EPOCH, UNDEFINED_OFFSET);
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            // Older than everything known: those offsets are gone; the follower may start at the
            // first epoch after it.
            None => (requested, higher.start_offset),
            Some(floor) => (floor.epoch, higher.start_offset),
        }
    }

    /// Drops entries for epochs that start at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        self.entries.retain(|e| e.start_offset < end_offset);
    }

    /// Moves the start to `start_offset` (the log start moved): entries that now begin before it
    /// go, except the last of them, which is kept as starting at `start_offset`.
    pub fn truncate_from_start(&mut self, start_offset: i64) {
        let below = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        if below == 0 {
            return;
        }
        let kept = EpochEntry {
            epoch: self.entries[below - 1].epoch,
            start_offset,
        };
        if below == 1 && self.entries[0] == kept {
            return;
        }
        self.entries.drain(..below);
        self.entries.insert(0, kept);
    }

    /// Forgets everything (the log was emptied).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries starting below `durable_end` (the offset the log is making durable), if the
    /// checkpoint file does not hold exactly them yet.
    pub fn to_write(&self, durable_end: i64) -> Option<Vec<EpochEntry>> {
        let wanted: Vec<EpochEntry> = self
            .entries
            .iter()
            .copied()
            .filter(|e| e.start_offset < durable_end)
            .collect();
        (wanted != self.on_disk).then_some(wanted)
    }

    /// Notes what the checkpoint file now holds.
    pub fn written(&mut self, entries: Vec<EpochEntry>) {
        self.on_disk = entries;
    }

    /// The checkpoint file's text for `entries`.
    pub fn encode(entries: &[EpochEntry]) -> String {
        let mut text = format!("0\n{}\n", entries.len());
        for e in entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        text
    }

    /// Reads a checkpoint file's text; anything malformed is refused (the log is then rescanned).
    pub fn decode(text: &str) -> Result<LeaderEpochCache, String> {
        let mut lines = text.lines();
        if lines.next() != Some("0") {
            return Err("unknown leader-epoch checkpoint version".into());
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or("missing entry count")?;
        let mut cache = LeaderEpochCache::default();
        for line in lines.by_ref().take(count) {
            let mut fields = line.split_whitespace();
            let (Some(epoch), Some(offset), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(format!("malformed line {line:?}"));
            };
            let epoch: i32 = epoch
                .parse()
                .map_err(|_| format!("bad epoch in {line:?}"))?;
            let start_offset: i64 = offset
                .parse()
                .map_err(|_| format!("bad offset in {line:?}"))?;
            if let Some(last) = cache.latest()
                && (epoch <= last.epoch || start_offset < last.start_offset)
            {
                return Err(format!("{line:?} does not follow {last:?}"));
            }
            cache.entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        if cache.entries.len() != count || lines.any(|l| !l.trim().is_empty()) {
            return Err(format!("expected {count} entries"));
        }
        cache.on_disk = cache.entries.clone();
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for (e, o) in entries {
            assert!(c.assign(*e, *o));
        }
        c
    }

    #[test]
    fn end_offsets_follow_kafkas_rules() {
        let c = cache(&[(1, 0), (3, 100), (5, 250)]);
        // The latest epoch ends at the log end.
        assert_eq!(c.end_offset_for(5, 300), (5, 300));
        // A known older epoch ends where the next one starts.
        assert_eq!(c.end_offset_for(1, 300), (1, 100));
        assert_eq!(c.end_offset_for(3, 300), (3, 250));
        // An epoch in a gap answers with the largest epoch below it.
        assert_eq!(c.end_offset_for(4, 300), (3, 250));
        // Older than everything: the requested epoch and the first start after it.
        assert_eq!(c.end_offset_for(0, 300), (0, 0));
        // Newer than everything, or undefined: unknown.
        assert_eq!(
            c.end_offset_for(9, 300),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
        assert_eq!(
            c.end_offset_for(UNDEFINED_EPOCH, 300),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
        assert_eq!(
            LeaderEpochCache::default().end_offset_for(0, 10),
            (UNDEFINED_EPOCH, UNDEFINED_OFFSET)
        );
    }

    #[test]
    fn assignments_keep_both_columns_increasing() {
        let mut c = cache(&[(1, 0), (3, 100)]);
        assert!(!c.assign(3, 150), "an epoch keeps its first offset");
        assert!(!c.assign(2, 120), "a stale older epoch is ignored");
        // A new epoch starting before a recorded one replaces what it contradicts.
        assert!(c.assign(4, 90));
        assert_eq!(
            c.entries(),
            &[
                EpochEntry {
                    epoch: 1,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 4,
                    start_offset: 90
                }
            ]
        );
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 100), (5, 250)]);
        c.truncate_from_end(250);
        assert_eq!(
            c.latest(),
            Some(EpochEntry {
                epoch: 3,
                start_offset: 100
            })
        );
        c.truncate_from_start(150);
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 150
            }]
        );
        c.truncate_from_start(120);
        assert_eq!(
            c.entries(),
            &[EpochEntry {
                epoch: 3,
                start_offset: 150
            }]
        );
        c.truncate_from_end(0);
        assert!(c.entries().is_empty());
    }

    #[test]
    fn checkpoints_round_trip_in_kafkas_format() {
        let c = cache(&[(0, 0), (3, 1500)]);
        let text = LeaderEpochCache::encode(c.entries());
        assert_eq!(text, "0\n2\n0 0\n3 1500\n");
        let back = LeaderEpochCache::decode(&text).unwrap();
        assert_eq!(back.entries(), c.entries());
        assert_eq!(back.to_write(i64::MAX), None, "what was read is on disk");
        for bad in [
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0\n",
            "0\n2\n3 5\n1 9\n",
            "0\nx\n",
        ] {
            assert!(LeaderEpochCache::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_entries_below_the_durable_end_need_writing() {
        let mut c = cache(&[(0, 0), (3, 1500)]);
        // An epoch that has written nothing below the durable end needs no write yet.
        assert_eq!(c.to_write(0), None);
        let wanted = c.to_write(1500).unwrap();
        assert_eq!(
            wanted,
            vec![EpochEntry {
                epoch: 0,
                start_offset: 0
            }]
        );
        c.written(wanted);
        assert_eq!(c.to_write(1500), None);
        assert_eq!(c.to_write(1501).unwrap().len(), 2);
        c.truncate_from_end(1);
        c.truncate_from_start(1);
        assert!(
            c.to_write(1501).is_some(),
            "a change below the durable end is written"
        );
    }
}
