//! Tests of the log engine as a whole: appends and reads against a model, rolls, lookups,
//! truncation, retention, crash recovery at every byte of a torn tail, and index rebuilds.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::record::batch::testing::{batch, batch_with_producer};
use crate::record::batch::{self, BatchHeader};

const T0: i64 = 1_700_000_000_000;

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 256,
        segment_index_bytes: 4096,
        ..crate::config::topic::default_log_config()
    }
}

fn open(dir: &Path, config: LogConfig, clean: bool, recovery_point: i64) -> Log {
    Log::open(
        crate::log::LogDir::plain(dir),
        dir,
        "t",
        0,
        config,
        LoadOptions {
            recovery_point,
            log_start_offset: None,
            clean_shutdown: clean,
            now_ms: T0,
        },
    )
    .unwrap()
}

/// Reads every batch from `offset` to the end, region by region.
fn read_all(log: &Log, mut offset: i64, max_bytes: u64) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(read) = log.read(offset, max_bytes, i64::MAX, true).unwrap() {
        let mut bytes = vec![0u8; read.region.len as usize];
        read.region
            .file
            .read_exact_at(&mut bytes, read.region.position)
            .unwrap();
        for (header, range) in batch::split_record_set(&bytes).unwrap() {
            out.push((header, bytes[range].to_vec()));
        }
        assert!(read.next_offset > offset, "read made no progress");
        offset = read.next_offset;
    }
    out
}

fn values(n: usize, size: usize, seed: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| vec![seed.wrapping_add(i as u8); size])
        .collect()
}

fn append_values(log: &Log, vals: &[Vec<u8>], ts: i64) -> AppendInfo {
    let refs: Vec<&[u8]> = vals.iter().map(Vec::as_slice).collect();
    log.append_as_leader(&batch(0, ts, &refs), 3, T0).unwrap()
}

#[test]
fn appends_get_dense_offsets_and_read_back_verbatim_but_for_the_patch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(), true, 0);
    let a = append_values(&log, &values(3, 10, 1), T0);
    let b = append_values(&log, &values(2, 10, 9), T0 + 5);
    assert_eq!((a.first_offset, a.last_offset), (0, 2));
    assert_eq!((b.first_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let batches = read_all(&log, 0, 1 << 20);
    assert_eq!(batches.len(), 2);
    let original = batch(0, T0 + 5, &[&[9u8; 10][..], &[10u8; 10][..]]);
    let (header, stored) = &batches[1];
    assert_eq!(header.base_offset, 3);
    assert_eq!(header.partition_leader_epoch, 3);
    // Everything after base offset, length and leader epoch is byte-for-byte what was produced.
    assert_eq!(&stored[16..], &original[16..]);
    batch::validate(stored).unwrap();
}

#[test]
fn a_read_starts_at_the_batch_holding_the_offset_and_respects_limits() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        crate::config::topic::default_log_config(),
        true,
        0,
    );
    for i in 0..10 {
        append_values(&log, &values(5, 100, i), T0);
    }
    // Offset 7 lies inside the second batch (5..=9).
    let read = log.read(7, 1 << 20, i64::MAX, true).unwrap().unwrap();
    assert_eq!(read.first_offset, 5);
    assert_eq!(read.next_offset, 50);
    // A budget smaller than one batch still returns that one batch...
    let one = log.read(7, 10, i64::MAX, true).unwrap().unwrap();
    assert_eq!((one.first_offset, one.next_offset), (5, 10));
    // ...unless the caller already has data and asks for none beyond the budget.
    assert!(log.read(7, 10, i64::MAX, false).unwrap().is_none());
    // Budget for two and a half batches gives two whole batches.
    let batch_size = one.region.len;
    let two = log
        .read(5, batch_size * 5 / 2, i64::MAX, true)
        .unwrap()
        .unwrap();
    assert_eq!(two.next_offset, 15);
    assert_eq!(two.region.len, batch_size * 2);
    // The upper bound (high watermark) is never passed.
    let bounded = log.read(0, 1 << 20, 20, true).unwrap().unwrap();
    assert_eq!(bounded.next_offset, 20);
    assert!(log.read(20, 1 << 20, 20, true).unwrap().is_none());
    // At the end: nothing; beyond it or below the start: out of range.
    assert!(log.read(50, 1 << 20, i64::MAX, true).unwrap().is_none());
    assert!(matches!(
        log.read(51, 1, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 1, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn segments_roll_at_segment_bytes_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(), true, 0);
    for i in 0..40 {
        append_values(&log, &values(4, 50, i), T0 + i64::from(i));
    }
    assert!(
        log.segment_count() > 5,
        "only {} segments",
        log.segment_count()
    );
    let batches = read_all(&log, 0, 700);
    assert_eq!(batches.len(), 40);
    for (i, (h, _)) in batches.iter().enumerate() {
        assert_eq!(h.base_offset, i as i64 * 4);
    }
    for offset in 0..160 {
        let read = log.read(offset, 1, i64::MAX, true).unwrap().unwrap();
        assert_eq!(read.first_offset, offset - offset % 4, "lookup of {offset}");
    }
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.contains(&"00000000000000000000.log".to_string()));
    assert!(files.contains(&"00000000000000000000.index".to_string()));
    assert!(files.contains(&"00000000000000000000.timeindex".to_string()));
}

#[test]
fn oversized_corrupt_and_invalid_batches_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 500,
        ..crate::config::topic::default_log_config()
    };
    let log = open(dir.path(), config, true, 0);
    let big = batch(0, T0, &[&[0u8; 600][..]]);
    assert!(matches!(
        log.append_as_leader(&big, 0, T0),
        Err(LogError::TooLarge { .. })
    ));
    let mut corrupt = batch(0, T0, &[b"x"]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert!(matches!(
        log.append_as_leader(&corrupt, 0, T0),
        Err(LogError::Batch(batch::BatchError::Corrupt(_)))
    ));
    let mut v1 = batch(0, T0, &[b"x"]);
    v1[batch::MAGIC] = 1;
    assert!(matches!(
        log.append_as_leader(&v1, 0, T0),
        Err(LogError::Batch(batch::BatchError::Invalid(_)))
    ));
    // A good batch followed by a bad one: neither is written.
    let mut mixed = batch(0, T0, &[b"ok"]);
    mixed.extend_from_slice(&corrupt);
    assert!(log.append_as_leader(&mixed, 0, T0).is_err());
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_in_bytes(), 0);
}

#[test]
fn timestamp_lookups_find_the_first_record_at_or_after_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(), true, 0);
    // Batch i holds 4 records stamped T0 + 10*i + 0..3.
    for i in 0..30 {
        append_values(&log, &values(4, 40, i as u8), T0 + 10 * i);
    }
    assert_eq!(
        log.offset_for_timestamp(0, i64::MAX).unwrap(),
        Some((0, T0))
    );
    assert_eq!(
        log.offset_for_timestamp(T0 + 52, i64::MAX).unwrap(),
        Some((22, T0 + 52))
    );
    // Between batches: the next batch's first record.
    assert_eq!(
        log.offset_for_timestamp(T0 + 55, i64::MAX).unwrap(),
        Some((24, T0 + 60))
    );
    assert_eq!(
        log.offset_for_timestamp(T0 + 10_000, i64::MAX).unwrap(),
        None
    );
    // Not beyond the upper bound.
    assert_eq!(log.offset_for_timestamp(T0 + 55, 24).unwrap(), None);
    assert_eq!(log.max_timestamp(i64::MAX).unwrap(), Some((119, T0 + 293)));
}

#[test]
fn log_append_time_stamps_batches_with_the_broker_clock() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..crate::config::topic::default_log_config()
    };
    let log = open(dir.path(), config, true, 0);
    let info = log
        .append_as_leader(&batch(0, 5, &[b"a", b"b"]), 0, T0)
        .unwrap();
    assert_eq!(info.log_append_time, T0);
    let (h, bytes) = &read_all(&log, 0, 1 << 20)[0];
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, T0);
    batch::validate(bytes).unwrap();
    assert_eq!(
        log.offset_for_timestamp(T0, i64::MAX).unwrap(),
        Some((0, T0))
    );
}

#[test]
fn follower_appends_must_continue_the_log_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        crate::config::topic::default_log_config(),
        true,
        0,
    );
    log.append_as_follower(&batch(0, T0, &[b"a", b"b"]), T0)
        .unwrap();
    assert!(matches!(
        log.append_as_follower(&batch(5, T0, &[b"c"]), T0),
        Err(LogError::NonContiguous {
            expected: 2,
            got: 5
        })
    ));
    log.append_as_follower(&batch(2, T0, &[b"c"]), T0).unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn truncation_cuts_at_batch_boundaries_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(), true, 0);
    for i in 0..30 {
        append_values(&log, &values(2, 60, i), T0);
    }
    let segments_before = log.segment_count();
    assert_eq!(log.truncate_to(21).unwrap(), 20);
    assert!(log.segment_count() < segments_before);
    assert_eq!(log.log_end_offset(), 20);
    let info = append_values(&log, &values(1, 10, 0), T0);
    assert_eq!(info.first_offset, 20);
    let batches = read_all(&log, 0, 1 << 20);
    assert_eq!(batches.last().unwrap().0.base_offset, 20);
    assert_eq!(batches.len(), 11);
    // Truncating below the first segment empties the log.
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    assert!(read_all(&log, 0, 1 << 20).is_empty());
}

#[test]
fn advancing_the_log_start_deletes_whole_segments_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(), true, 0);
    for i in 0..30 {
        append_values(&log, &values(2, 60, i), T0);
    }
    let before = log.segment_count();
    assert_eq!(log.advance_log_start(25).unwrap(), 25);
    assert!(log.segment_count() < before);
    assert!(matches!(
        log.read(10, 1, i64::MAX, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Reading from the new start returns the batch holding it.
    assert_eq!(
        log.read(25, 1, i64::MAX, true)
            .unwrap()
            .unwrap()
            .first_offset,
        24
    );
    assert!(log.advance_log_start(61).is_err());
}

#[test]
fn retention_removes_old_segments_below_the_upper_bound_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: 1000,
        ..small_config()
    };
    let log = open(dir.path(), config, true, 0);
    for i in 0..30 {
        append_values(&log, &values(2, 60, i), T0);
    }
    let report = log.apply_retention(T0 + 10_000, 10).unwrap();
    assert!(report.segments >= 1);
    assert!(log.log_start_offset() <= 10);
    let report = log.apply_retention(T0 + 10_000, i64::MAX).unwrap();
    assert!(report.segments >= 1);
    assert_eq!(log.segment_count(), 1, "only the active segment stays");
    assert_eq!(log.log_end_offset(), 60);
}

#[test]
fn a_clean_restart_keeps_everything_and_continues_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small_config(), true, 0);
        for i in 0..25 {
            append_values(&log, &values(3, 30, i), T0 + i64::from(i));
        }
        log.close().unwrap();
    }
    let log = open(dir.path(), small_config(), true, 0);
    assert_eq!(log.log_end_offset(), 75);
    assert_eq!(read_all(&log, 0, 1 << 20).len(), 25);
    assert_eq!(append_values(&log, &values(1, 1, 0), T0).first_offset, 75);
    // Batch 18 holds offsets 54..=56 stamped T0+18..=T0+20.
    assert_eq!(
        log.offset_for_timestamp(T0 + 20, i64::MAX).unwrap(),
        Some((56, T0 + 20))
    );
}

/// Builds a log of `n` batches, returning the bytes of the active segment's file and its batches'
/// end positions.
fn crash_fixture(dir: &Path, n: i64) -> (Vec<u8>, Vec<u64>) {
    let log = open(dir, crate::config::topic::default_log_config(), true, 0);
    let mut ends = Vec::new();
    for i in 0..n {
        append_values(&log, &values(2, 20, i as u8), T0 + i);
        ends.push(log.size_in_bytes());
    }
    drop(log);
    (
        std::fs::read(dir.join("00000000000000000000.log")).unwrap(),
        ends,
    )
}

#[test]
fn recovery_keeps_exactly_the_whole_batches_before_a_cut_at_any_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (full, ends) = crash_fixture(dir.path(), 6);
    let last_start = ends[ends.len() - 2];
    for cut in last_start..=full.len() as u64 {
        let case = tempfile::tempdir().unwrap();
        std::fs::write(
            case.path().join("00000000000000000000.log"),
            &full[..cut as usize],
        )
        .unwrap();
        let log = open(
            case.path(),
            crate::config::topic::default_log_config(),
            false,
            0,
        );
        let whole = if cut == full.len() as u64 { 6 } else { 5 };
        assert_eq!(log.log_end_offset(), whole * 2, "cut at {cut}");
        let batches = read_all(&log, 0, 1 << 20);
        assert_eq!(batches.len() as i64, whole);
        let info = append_values(&log, &values(1, 5, 0), T0);
        assert_eq!(
            info.first_offset,
            whole * 2,
            "offsets continue densely after a cut at {cut}"
        );
    }
}

#[test]
fn recovery_cuts_garbage_after_the_last_batch_and_a_corrupt_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (full, ends) = crash_fixture(dir.path(), 4);
    let log_path = dir.path().join("00000000000000000000.log");

    let mut garbage = full.clone();
    garbage.extend((0..300u32).map(|i| (i * 7 + 3) as u8));
    std::fs::write(&log_path, &garbage).unwrap();
    let log = open(
        dir.path(),
        crate::config::topic::default_log_config(),
        false,
        0,
    );
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(
        std::fs::metadata(&log_path).unwrap().len(),
        full.len() as u64
    );
    drop(log);

    // Flip a byte inside the third batch: batches three and four are gone.
    let mut corrupt = full.clone();
    corrupt[ends[1] as usize + 70] ^= 0x40;
    std::fs::write(&log_path, &corrupt).unwrap();
    let log = open(
        dir.path(),
        crate::config::topic::default_log_config(),
        false,
        0,
    );
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(read_all(&log, 0, 1 << 20).len(), 2);
}

#[test]
fn a_truncated_segment_takes_later_segments_with_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small_config(), true, 0);
        for i in 0..40 {
            append_values(&log, &values(2, 60, i), T0);
        }
        assert!(log.segment_count() >= 3);
    }
    // Tear the tail of the first segment.
    let first = dir.path().join("00000000000000000000.log");
    let len = std::fs::metadata(&first).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let log = open(dir.path(), small_config(), false, 0);
    assert_eq!(log.segment_count(), 1);
    let batches = read_all(&log, 0, 1 << 20);
    assert_eq!(
        log.log_end_offset(),
        batches.last().unwrap().0.next_offset()
    );
    assert_eq!(
        append_values(&log, &values(1, 1, 0), T0).first_offset,
        log.log_end_offset() - 1
    );
}

#[test]
fn missing_or_garbage_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small_config(), true, 0);
        for i in 0..40 {
            append_values(&log, &values(3, 40, i), T0 + i64::from(i));
        }
        log.close().unwrap();
    }
    let expected = {
        let log = open(dir.path(), small_config(), true, 0);
        let all = read_all(&log, 0, 1 << 20);
        log.close().unwrap();
        all
    };
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "index" || e == "timeindex")
        })
        .collect();
    names.sort();
    for (i, path) in names.iter().enumerate() {
        match i % 3 {
            0 => std::fs::remove_file(path).unwrap(),
            1 => std::fs::write(path, vec![0xAB; 96]).unwrap(),
            _ => std::fs::write(path, vec![0x01; 7]).unwrap(),
        }
    }
    for clean in [true, false] {
        let log = open(dir.path(), small_config(), clean, 0);
        assert_eq!(read_all(&log, 0, 1 << 20).len(), expected.len());
        for offset in (0..120).step_by(7) {
            let read = log.read(offset, 1, i64::MAX, true).unwrap().unwrap();
            assert_eq!(read.first_offset, offset - offset % 3);
        }
        // Batch 28 holds offsets 84..=86 stamped T0+28..=T0+30.
        assert_eq!(
            log.offset_for_timestamp(T0 + 30, i64::MAX).unwrap(),
            Some((86, T0 + 30))
        );
        log.close().unwrap();
    }
}

#[test]
fn regions_stay_readable_after_their_segment_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_config(), true, 0);
    for i in 0..30 {
        append_values(&log, &values(2, 60, i), T0);
    }
    let region = log
        .read(0, 1 << 20, i64::MAX, true)
        .unwrap()
        .unwrap()
        .region;
    log.advance_log_start(40).unwrap();
    assert!(!dir.path().join("00000000000000000000.log").exists());
    let mut bytes = vec![0u8; region.len as usize];
    region
        .file
        .read_exact_at(&mut bytes, region.position)
        .unwrap();
    assert_eq!(batch::split_record_set(&bytes).unwrap()[0].0.base_offset, 0);
}

#[test]
fn the_recovery_point_moves_only_with_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        crate::config::topic::default_log_config(),
        true,
        0,
    );
    append_values(&log, &values(5, 10, 0), T0);
    assert_eq!(log.recovery_point(), 0);
    assert_eq!(log.flush().unwrap(), 5);
    assert_eq!(log.recovery_point(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_durable_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(
        dir.path(),
        crate::config::topic::default_log_config(),
        true,
        0,
    ));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let info = log
                .append_as_leader(&batch(0, T0, &[&[i as u8; 100][..]]), 0, T0)
                .unwrap();
            log.flush_up_to(info.last_offset + 1).await.unwrap();
            assert!(log.recovery_point() > info.last_offset);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(log.recovery_point(), 64);
    assert!(
        log.flush_count() < 64,
        "{} fsync rounds for 64 waiters",
        log.flush_count()
    );
}

#[test]
fn idempotent_producer_fields_survive_the_patch() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(
        dir.path(),
        crate::config::topic::default_log_config(),
        true,
        0,
    );
    let b = batch_with_producer(0, T0, &[b"a", b"b"], 77, 2, 10);
    log.append_as_leader(&b, 0, T0).unwrap();
    let (h, _) = &read_all(&log, 0, 1 << 20)[0];
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (77, 2, 10)
    );
    assert_eq!(h.last_sequence(), 11);
}

/// One step of the model-based test.
#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, size: usize },
    Read { at: usize, max_bytes: u64 },
    Truncate { at: usize },
    Reopen { clean: bool },
    TimeLookup { at: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 1usize..300).prop_map(|(records, size)| Op::Append { records, size }),
        3 => (0usize..1000, 1u64..3000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => (0usize..1000).prop_map(|at| Op::Truncate { at }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => (0usize..1000).prop_map(|at| Op::TimeLookup { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random appends, reads, truncations and restarts agree with a list of batches in memory.
    #[test]
    fn the_log_agrees_with_a_simple_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 2048, index_interval_bytes: 300, segment_index_bytes: 160, ..crate::config::topic::default_log_config() };
        let mut log = open(dir.path(), config.clone(), true, 0);
        // The model: each batch's (base offset, record count, timestamp of its first record, bytes).
        let mut model: Vec<(i64, i64, i64, Vec<u8>)> = Vec::new();
        let mut clock = T0;
        for op in ops {
            match op {
                Op::Append { records, size } => {
                    clock += 10;
                    let vals = values(records, size, clock as u8);
                    let refs: Vec<&[u8]> = vals.iter().map(Vec::as_slice).collect();
                    let bytes = batch(0, clock, &refs);
                    let info = log.append_as_leader(&bytes, 0, T0).unwrap();
                    let expected = model.last().map_or(0, |(b, n, _, _)| b + n);
                    prop_assert_eq!(info.first_offset, expected);
                    model.push((expected, records as i64, clock, bytes));
                }
                Op::Read { at, max_bytes } => {
                    let end = model.last().map_or(0, |(b, n, _, _)| b + n);
                    let offset = if end == 0 { 0 } else { at as i64 % (end + 1) };
                    let read = log.read(offset, max_bytes, i64::MAX, true).unwrap();
                    if offset == end {
                        prop_assert!(read.is_none());
                        continue;
                    }
                    let read = read.unwrap();
                    let first = model.iter().position(|(b, n, _, _)| offset < b + n).unwrap();
                    prop_assert_eq!(read.first_offset, model[first].0);
                    let mut bytes = vec![0u8; read.region.len as usize];
                    read.region.file.read_exact_at(&mut bytes, read.region.position).unwrap();
                    let got = batch::split_record_set(&bytes).unwrap();
                    prop_assert!(!got.is_empty());
                    prop_assert!(got.len() == 1 || bytes.len() as u64 <= max_bytes);
                    for (i, (h, range)) in got.iter().enumerate() {
                        let (base, count, _, original) = &model[first + i];
                        prop_assert_eq!(h.base_offset, *base);
                        prop_assert_eq!(h.records_count as i64, *count);
                        prop_assert_eq!(&bytes[range.clone()][16..], &original[16..]);
                    }
                }
                Op::Truncate { at } => {
                    if model.is_empty() { continue; }
                    let keep = at % model.len();
                    let cut = model[keep].0;
                    prop_assert_eq!(log.truncate_to(cut).unwrap(), cut);
                    model.truncate(keep);
                }
                Op::Reopen { clean } => {
                    if clean { log.close().unwrap(); } else { log.flush().unwrap(); }
                    drop(log);
                    log = open(dir.path(), config.clone(), clean, 0);
                }
                Op::TimeLookup { at } => {
                    let target = T0 + (at as i64 % ((clock - T0) + 20));
                    let expected = model.iter().find_map(|(b, n, ts, _)| {
                        (0..*n).find(|i| ts + i >= target).map(|i| (b + i, ts + i))
                    });
                    let got = log.offset_for_timestamp(target, i64::MAX).unwrap();
                    prop_assert_eq!(got, expected);
                }
            }
            let end = model.last().map_or(0, |(b, n, _, _)| b + n);
            prop_assert_eq!(log.log_end_offset(), end);
        }
        let all = read_all(&log, 0, 1500);
        prop_assert_eq!(all.len(), model.len());
    }
}
