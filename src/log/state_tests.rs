//! Tests of what the log keeps beside its records (idempotent-producer state, leader epochs) across
//! restarts, crashes and truncation; of its answers to storage faults injected through
//! [`FaultInjector`]; and of slow file work staying out of other readers' way.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;

use super::dir::{LogDir, StorageEvents};
use super::io::{FaultInjector, Op, Severity, classify};
use super::producer_state::ProducerError;
use super::*;
use crate::record::batch::testing::{batch, batch_with_producer};

const T0: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
        ..crate::config::topic::default_log_config()
    }
}

fn dir_with(path: &Path, faults: &Arc<FaultInjector>) -> Arc<LogDir> {
    Arc::new(LogDir::new(
        path,
        Arc::clone(faults) as Arc<dyn io::FileOps>,
        Arc::new(StorageEvents::default()),
    ))
}

fn open_with(dir: Arc<LogDir>, path: &Path, clean: bool) -> Log {
    Log::open(
        dir,
        path,
        "t",
        0,
        config(),
        LoadOptions {
            recovery_point: 0,
            log_start_offset: None,
            clean_shutdown: clean,
            now_ms: T0,
        },
    )
    .unwrap()
}

fn open(path: &Path, clean: bool) -> Log {
    open_with(LogDir::plain(path), path, clean)
}

/// Batch `i` of producer 7 (epoch 0): three records, sequence `3 * i`.
fn producer_batch(i: i32) -> Vec<u8> {
    batch_with_producer(
        0,
        T0 + i64::from(i),
        &[b"aaaa", b"bbbb", b"cccc"],
        7,
        0,
        3 * i,
    )
}

fn append(log: &Log, bytes: &[u8]) -> Result<AppendInfo, LogError> {
    log.append_as_leader(bytes, 0, T0)
}

/// Appends batches 0..n of producer 7; returns their first offsets.
fn produce(log: &Log, n: i32) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let info = append(log, &producer_batch(i)).unwrap();
            assert!(!info.duplicate);
            info.first_offset
        })
        .collect()
}

fn assert_retry_is_duplicate(log: &Log, i: i32, first_offset: i64) {
    let end = log.log_end_offset();
    let info = append(log, &producer_batch(i)).unwrap();
    assert!(info.duplicate, "batch {i} was written again");
    assert_eq!(info.first_offset, first_offset);
    assert_eq!(info.last_offset, first_offset + 2);
    assert_eq!(log.log_end_offset(), end, "nothing appended");
}

#[test]
fn retries_of_the_last_five_batches_are_recognised_after_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    let offsets = produce(&log, 20);
    assert!(log.segment_count() > 3, "segments rolled");
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), true);
    for i in 15..20 {
        assert_retry_is_duplicate(&log, i, offsets[i as usize]);
    }
    // A gap is refused, the next batch is taken.
    assert!(matches!(
        append(&log, &producer_batch(21)),
        Err(LogError::Producer(ProducerError::OutOfOrder { .. }))
    ));
    assert_eq!(append(&log, &producer_batch(20)).unwrap().first_offset, 60);
}

#[test]
fn retries_are_recognised_after_a_crash_even_without_the_newest_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    let offsets = produce(&log, 20);
    log.flush().unwrap();
    drop(log); // no close: a crash
    // The newest snapshot lost too: loading replays from the one before.
    let newest = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            producer_state::parse_snapshot_file_name(&name)
        })
        .max()
        .expect("rolls wrote snapshots");
    std::fs::remove_file(dir.path().join(producer_state::snapshot_file_name(newest))).unwrap();
    let log = open(dir.path(), false);
    for i in 15..20 {
        assert_retry_is_duplicate(&log, i, offsets[i as usize]);
    }
    // And with no snapshot at all, the whole log is replayed.
    drop(log);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let log = open(dir.path(), false);
    assert_retry_is_duplicate(&log, 19, offsets[19]);
}

#[test]
fn truncation_takes_the_producer_state_back_with_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    let offsets = produce(&log, 10);
    log.truncate_to(offsets[6]).unwrap();
    assert_eq!(log.log_end_offset(), offsets[6]);
    assert_retry_is_duplicate(&log, 5, offsets[5]);
    // Batch 6 is gone, so it is new again and lands where it was.
    let again = append(&log, &producer_batch(6)).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.first_offset, offsets[6]);
}

#[test]
fn idle_producers_expire() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    produce(&log, 2);
    assert_eq!(log.producer_count(), 1);
    log.expire_producers(T0 + 1000, 86_400_000);
    assert_eq!(log.producer_count(), 1);
    log.expire_producers(T0 + 86_400_001, 86_400_000);
    assert_eq!(log.producer_count(), 0);
}

fn append_with_epoch(log: &Log, epoch: i32) -> i64 {
    log.append_as_leader(&batch(0, T0, &[b"x"]), epoch, T0)
        .unwrap()
        .first_offset
}

#[test]
fn leader_epochs_are_kept_on_append_durable_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    for epoch in [0, 0, 2, 2, 2, 5] {
        append_with_epoch(&log, epoch);
    }
    assert_eq!(log.end_offset_for_epoch(0), (0, 2));
    assert_eq!(log.end_offset_for_epoch(1), (0, 2));
    assert_eq!(log.end_offset_for_epoch(2), (2, 5));
    assert_eq!(log.end_offset_for_epoch(5), (5, 6));
    assert_eq!(log.end_offset_for_epoch(6), (-1, -1));
    // A new leader's epoch starts at the log end, on disk with the next flush.
    log.assign_epoch_start(7).unwrap();
    assert_eq!(log.end_offset_for_epoch(5), (5, 6));
    assert_eq!(log.end_offset_for_epoch(7), (7, 6));
    log.flush().unwrap();
    // On disk go the epochs that wrote below the durable end; epoch 7 has written nothing yet.
    let text = std::fs::read_to_string(dir.path().join(leader_epoch::CHECKPOINT_FILE)).unwrap();
    assert_eq!(text, "0\n3\n0 0\n2 2\n5 5\n");
    log.close().unwrap();
    drop(log);
    let log = open(dir.path(), true);
    assert_eq!(log.end_offset_for_epoch(2), (2, 5));
    // Truncation drops the epochs that started in the removed part.
    log.truncate_to(3).unwrap();
    assert_eq!(log.latest_epoch(), Some(2));
    assert_eq!(log.end_offset_for_epoch(2), (2, 3));
    // The log start moving trims from the front.
    log.advance_log_start(1).unwrap();
    assert_eq!(log.end_offset_for_epoch(0), (0, 2));
}

#[test]
fn lost_or_stale_epoch_checkpoints_are_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    append_with_epoch(&log, 1);
    log.flush().unwrap();
    let stale = std::fs::read(dir.path().join(leader_epoch::CHECKPOINT_FILE)).unwrap();
    append_with_epoch(&log, 4);
    log.flush().unwrap();
    drop(log);
    // A crash that left the old checkpoint: the recovered tail brings epoch 4 back.
    std::fs::write(dir.path().join(leader_epoch::CHECKPOINT_FILE), &stale).unwrap();
    let log = open(dir.path(), false);
    assert_eq!(log.end_offset_for_epoch(1), (1, 1));
    assert_eq!(log.end_offset_for_epoch(4), (4, 2));
    log.close().unwrap();
    drop(log);
    // No checkpoint at all: every batch header is read.
    std::fs::remove_file(dir.path().join(leader_epoch::CHECKPOINT_FILE)).unwrap();
    let log = open(dir.path(), true);
    assert_eq!(log.end_offset_for_epoch(1), (1, 1));
    assert_eq!(log.latest_epoch(), Some(4));
}

#[test]
fn a_full_disk_fails_writes_keeps_reads_and_writes_resume_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let log_dir = dir_with(dir.path(), &faults);
    let log = open_with(Arc::clone(&log_dir), dir.path(), true);
    let offsets = produce(&log, 3);
    faults.fail(Op::Write, ".log", Errno::ENOSPC, None);
    faults.fail(Op::Open, ".log", Errno::ENOSPC, None);
    for _ in 0..5 {
        match append(&log, &producer_batch(3)) {
            Err(LogError::Io(e)) => assert_eq!(classify(&e), Severity::Full),
            other => panic!("append on a full disk: {other:?}"),
        }
    }
    assert!(log_dir.is_online(), "a full disk is not a broken disk");
    assert_eq!(log.log_end_offset(), 9);
    let read = log.read(0, 1 << 20, i64::MAX, true).unwrap().unwrap();
    assert_eq!(read.first_offset, 0);
    faults.clear();
    // The same producer goes on where it stopped: nothing of the failed attempts was kept.
    assert_eq!(append(&log, &producer_batch(3)).unwrap().first_offset, 9);
    assert_retry_is_duplicate(&log, 0, offsets[0]);
}

#[test]
fn indexes_that_cannot_grow_only_skip_entries() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let log_dir = dir_with(dir.path(), &faults);
    let big = LogConfig {
        segment_bytes: 1 << 30,
        index_interval_bytes: 0,
        ..config()
    };
    let log = Log::open(
        Arc::clone(&log_dir),
        dir.path(),
        "t",
        0,
        big,
        LoadOptions {
            recovery_point: 0,
            log_start_offset: None,
            clean_shutdown: true,
            now_ms: T0,
        },
    )
    .unwrap();
    faults.fail(Op::Allocate, ".index", Errno::ENOSPC, None);
    faults.fail(Op::Allocate, ".timeindex", Errno::ENOSPC, None);
    // Every batch is indexed: far more entries than the first allocation holds.
    for i in 0..2000 {
        log.append_as_leader(&batch(0, T0 + i, &[b"v"]), 0, T0)
            .unwrap();
    }
    assert!(log_dir.is_online());
    for offset in [0, 999, 1999] {
        let read = log.read(offset, 1, i64::MAX, true).unwrap().unwrap();
        assert_eq!(read.first_offset, offset);
    }
    let index = std::fs::metadata(dir.path().join("00000000000000000000.index")).unwrap();
    assert!(
        index.len() <= index_file::INITIAL_BYTES as u64,
        "never grew"
    );
    assert_eq!(
        log.offset_for_timestamp(T0 + 1500, i64::MAX).unwrap(),
        Some((1500, T0 + 1500))
    );
}

#[test]
fn an_io_error_takes_the_directory_offline_for_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let log_dir = dir_with(dir.path(), &faults);
    let log = open_with(Arc::clone(&log_dir), dir.path(), true);
    produce(&log, 2);
    faults.fail(Op::Write, ".log", Errno::EIO, Some(1));
    assert!(matches!(
        append(&log, &producer_batch(2)),
        Err(LogError::Io(_))
    ));
    assert!(!log_dir.is_online());
    assert!(log_dir.failure().unwrap().contains("Input/output error"));
    // The fault is spent, but the directory stays offline until restart.
    assert!(matches!(
        append(&log, &producer_batch(2)),
        Err(LogError::Offline(_))
    ));
    assert!(matches!(
        log.read(0, 100, i64::MAX, true),
        Err(LogError::Offline(_))
    ));
}

#[test]
fn a_failed_fsync_takes_the_directory_offline_and_keeps_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let log_dir = dir_with(dir.path(), &faults);
    let log = open_with(Arc::clone(&log_dir), dir.path(), true);
    produce(&log, 1);
    log.flush().unwrap();
    let durable = log.recovery_point();
    produce_more(&log);
    // Even a "disk full" from fsync is fatal: the kernel may have dropped the unwritten pages.
    faults.fail(Op::Sync, ".log", Errno::ENOSPC, Some(1));
    assert!(log.flush().is_err());
    assert!(!log_dir.is_online());
    assert_eq!(log.recovery_point(), durable);
    assert!(log.flush().is_err(), "no later flush pretends success");
}

fn produce_more(log: &Log) {
    append(log, &producer_batch(1)).unwrap();
}

#[test]
fn opening_a_segment_happens_outside_the_lock_and_off_the_runtime_workers() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let slow = tempfile::tempdir().unwrap();
    // Partition A: closed segments (a clean restart), whose opening is held.
    let a = {
        let log = open_with(dir_with(slow.path(), &faults), slow.path(), true);
        produce(&log, 4);
        log.close().unwrap();
        drop(log);
        Arc::new(open_with(dir_with(slow.path(), &faults), slow.path(), true))
    };
    // Partition B: open and readable.
    let b = Arc::new(open(dir.path(), true));
    produce(&b, 4);
    faults.hold(Op::Open, &slow.path().to_string_lossy());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // More readers of A than the runtime has workers, each stuck opening A's segment.
        let stuck: Vec<_> = (0..4)
            .map(|_| {
                let a = Arc::clone(&a);
                tokio::spawn(async move { a.read(0, 1 << 20, i64::MAX, true).map(|r| r.is_some()) })
            })
            .collect();
        while faults.held() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // B is served meanwhile, and so is A's own in-memory state.
        for _ in 0..100 {
            let b = Arc::clone(&b);
            let read = tokio::spawn(async move { b.read(3, 1 << 20, i64::MAX, true) });
            let read = tokio::time::timeout(Duration::from_secs(10), read)
                .await
                .expect("a read of another partition waited for this one's files")
                .unwrap()
                .unwrap();
            assert_eq!(read.unwrap().first_offset, 3);
        }
        assert_eq!(a.segment_count(), a.segment_count());
        faults.release();
        for task in stuck {
            assert!(task.await.unwrap().unwrap());
        }
    });
}

#[test]
fn a_roll_creates_the_next_segment_outside_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let faults = FaultInjector::new();
    let log = Arc::new(open_with(dir_with(dir.path(), &faults), dir.path(), true));
    produce(&log, 3);
    let before = log.log_end_offset();
    // The only `.log` file opened from here on is the next segment's, created by the roll.
    faults.hold(Op::Open, ".log");
    let roller = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for i in 3..8 {
                append(&log, &producer_batch(i)).unwrap();
            }
        })
    };
    while faults.held() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // While the new segment's file is being created, the log still serves reads.
    let read = log.read(0, 1 << 20, i64::MAX, true).unwrap().unwrap();
    assert_eq!(read.first_offset, 0);
    assert!(log.log_end_offset() > before);
    faults.release();
    roller.join().unwrap();
    assert_eq!(log.log_end_offset(), 24);
}

#[test]
fn lookups_across_many_closed_segments_open_each_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true);
    for i in 0..200 {
        log.append_as_leader(&batch(0, T0 + i, &[&[b'v'; 100][..]]), 0, T0)
            .unwrap();
    }
    let segments = log.segment_count();
    assert!(segments > 30, "{segments} segments");
    log.close().unwrap();
    drop(log);
    // After a restart every segment is closed; a max-timestamp lookup opens all of them.
    let log = open(dir.path(), true);
    assert_eq!(log.open_segment_count(), 0);
    assert_eq!(log.max_timestamp(i64::MAX).unwrap(), Some((199, T0 + 199)));
    assert_eq!(
        log.offset_for_timestamp(T0 + 150, i64::MAX).unwrap(),
        Some((150, T0 + 150))
    );
    assert_eq!(log.open_segment_count(), segments);
}
