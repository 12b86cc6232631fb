//! Micro-benchmarks of the log engine: append throughput into the page cache, read (region lookup)
//! latency by offset and by timestamp, and the recovery scan after an unclean stop.
//!
//! Run: `cargo bench --bench log`. Files go under the target directory, not /tmp (often tmpfs).

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kafe::log::{LoadOptions, Log};
use kafe::record::batch::testing::batch;

const T0: i64 = 1_700_000_000_000;

fn scratch_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("scratch dir")
}

/// A batch of `batch_bytes` made of 1 KiB records (or one record when smaller).
fn batch_of(batch_bytes: usize, timestamp: i64) -> Vec<u8> {
    let record = batch_bytes.min(1024);
    let count = (batch_bytes / record).max(1);
    let value = vec![0x5au8; record - 16.min(record)];
    let values: Vec<&[u8]> = (0..count).map(|_| value.as_slice()).collect();
    batch(0, timestamp, &values)
}

fn open(dir: &Path, clean: bool) -> Log {
    Log::open(
        kafe::log::LogDir::plain(dir),
        dir,
        "bench",
        0,
        kafe::config::topic::default_log_config(),
        LoadOptions {
            recovery_point: 0,
            log_start_offset: None,
            clean_shutdown: clean,
            now_ms: T0,
        },
    )
    .expect("open log")
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(4));
    for size in [1024usize, 16 * 1024, 64 * 1024] {
        let dir = scratch_dir();
        let log = open(dir.path(), true);
        let records = batch_of(size, T0);
        group.throughput(Throughput::Bytes(records.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &records, |b, records| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    log.append_as_leader(records, 0, T0).expect("append");
                }
                let elapsed = start.elapsed();
                // Keep the disk footprint small between samples (outside the timing).
                log.truncate_fully_and_start_at(0).expect("reset");
                elapsed
            });
        });
    }
    group.finish();
}

/// A log of 200,000 batches of 1 KiB (about 200 MB in one segment), stamped 1 ms apart.
fn filled_log(dir: &Path) -> (Log, i64) {
    let log = open(dir, true);
    let n = 200_000;
    for i in 0..n {
        log.append_as_leader(&batch_of(1024, T0 + i), 0, T0)
            .expect("append");
    }
    (log, n)
}

fn lookups(c: &mut Criterion) {
    let dir = scratch_dir();
    let (log, n) = filled_log(dir.path());
    let mut group = c.benchmark_group("lookup");
    let mut x: i64 = 12345;
    group.bench_function("by_offset", |b| {
        b.iter(|| {
            // A cheap pseudo-random walk over the whole log, so the read hint never helps.
            x = (x * 1_103_515_245 + 12_345) & 0x7fff_ffff;
            log.read(x % n, 1, i64::MAX, true)
                .expect("read")
                .expect("region")
        })
    });
    group.bench_function("by_timestamp", |b| {
        b.iter(|| {
            x = (x * 1_103_515_245 + 12_345) & 0x7fff_ffff;
            log.offset_for_timestamp(T0 + x % n, i64::MAX)
                .expect("lookup")
                .expect("found")
        })
    });
    group.finish();
}

fn recovery(c: &mut Criterion) {
    let dir = scratch_dir();
    let bytes = {
        let log = open(dir.path(), true);
        let records = batch_of(16 * 1024, T0);
        for _ in 0..(256 * 1024 * 1024 / records.len()) {
            log.append_as_leader(&records, 0, T0).expect("append");
        }
        log.flush().expect("flush");
        log.size_in_bytes()
    };
    let mut group = c.benchmark_group("recovery");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("scan_256MiB", |b| {
        b.iter(|| {
            let log = open(dir.path(), false);
            assert_eq!(log.size_in_bytes(), bytes);
        })
    });
    group.finish();
}

criterion_group!(benches, append, lookups, recovery);
criterion_main!(benches);
