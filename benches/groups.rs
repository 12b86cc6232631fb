//! Consumer group benchmarks: offset commits per second (OffsetCommit of 100 partitions, durable
//! before it returns) from one committer and from 16 concurrent ones, and the start-up replay of
//! `__consumer_offsets` holding 1,000,000 commits on 10,000 group-partitions, before and after
//! compaction.
//!
//! Run: `cargo bench --bench groups`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafe::cluster::MetadataPublisher;
use kafe::cluster::{MetadataImage, MetadataRecord};
use kafe::config::BrokerConfig;
use kafe::group::coordinator::{CommitRequest, CoordinatorConfig, GroupCoordinator, Sender};
use kafe::group::records::OffsetValue;
use kafe::group::state::GroupConfig;
use kafe::group::store::{self, Change, OFFSETS_TOPIC, OffsetsPartitions};
use kafe::log::LogManager;
use kafe::partition::ReplicaManager;

const T0: i64 = 1_700_000_000_000;
const OFFSETS_PARTITIONS: i32 = 10;

struct Fixture {
    coordinator: GroupCoordinator,
    replicas: Arc<ReplicaManager>,
    _dir: tempfile::TempDir,
}

fn coordinator_config(compaction_min_bytes: u64) -> CoordinatorConfig {
    CoordinatorConfig {
        group: GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 60_000,
            initial_rebalance_delay_ms: 0,
        },
        offsets_partitions: OFFSETS_PARTITIONS,
        offsets_retention_ms: 7 * 24 * 3_600_000,
        metadata_max_bytes: 4096,
        compaction_min_bytes,
    }
}

/// Opens (or reopens) a data directory holding `__consumer_offsets`, loading the groups in it.
fn open(
    dir: &std::path::Path,
    compaction_min_bytes: u64,
) -> (GroupCoordinator, Arc<ReplicaManager>, Duration) {
    let logs = Arc::new(
        LogManager::open(
            &kafe::log::Layout::single(dir),
            |_| kafe::config::topic::default_log_config(),
            T0,
        )
        .expect("logs"),
    );
    let replicas = Arc::new(ReplicaManager::new(
        0,
        Arc::new(BrokerConfig::embedded()),
        Arc::clone(&logs),
    ));
    let mut image = MetadataImage::default();
    let records = MetadataRecord::new_topic(
        OFFSETS_TOPIC,
        uuid::Uuid::from_u128(1),
        vec![vec![0]; OFFSETS_PARTITIONS as usize],
        [],
    );
    for r in records {
        image.apply(&r);
    }
    replicas
        .publish(&MetadataImage::default(), &Arc::new(image))
        .expect("partitions");
    let coordinator = GroupCoordinator::new(
        coordinator_config(compaction_min_bytes),
        Arc::clone(&replicas) as Arc<dyn OffsetsPartitions>,
    );
    let started = Instant::now();
    for p in replicas.all() {
        coordinator.load(&p, T0).expect("load");
    }
    (coordinator, replicas, started.elapsed())
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("dir");
    let (coordinator, replicas, _) = open(dir.path(), 16 << 20);
    Fixture {
        coordinator,
        replicas,
        _dir: dir,
    }
}

fn offsets(round: i64) -> Vec<CommitRequest> {
    (0..100)
        .map(|p| CommitRequest {
            topic: "orders".into(),
            partition: p,
            offset: round,
            leader_epoch: -1,
            metadata: None,
        })
        .collect()
}

const SIMPLE: Sender<'static> = Sender {
    member_id: "",
    instance_id: None,
    generation_id: -1,
};

fn commits(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let f = fixture();
    let mut group = c.benchmark_group("offset_commit_100_partitions");
    group.throughput(Throughput::Elements(1));
    let mut round = 0;
    group.bench_function("one_committer", |b| {
        b.iter(|| {
            round += 1;
            runtime.block_on(
                f.coordinator
                    .commit("bench", SIMPLE, offsets(round), |_, _| true, T0),
            )
        })
    });
    let coordinator = Arc::new(f.coordinator);
    group.throughput(Throughput::Elements(16));
    group.bench_function("16_concurrent_committers", |b| {
        b.iter(|| {
            round += 1;
            runtime.block_on(async {
                let tasks: Vec<_> = (0..16)
                    .map(|g| {
                        let coordinator = Arc::clone(&coordinator);
                        tokio::spawn(async move {
                            coordinator
                                .commit(
                                    &format!("bench-{g}"),
                                    SIMPLE,
                                    offsets(round),
                                    |_, _| true,
                                    T0,
                                )
                                .await
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("commit task");
                }
            })
        })
    });
    group.finish();
    drop(f.replicas);
}

/// Writes 1,000,000 offset commits on 10,000 group-partitions (100 groups x 100 partitions,
/// 100 rounds) straight into `__consumer_offsets`, a batch per group and round.
fn write_million_commits(replicas: &ReplicaManager) {
    for round in 0..100 {
        for g in 0..100 {
            let group = format!("group-{g}");
            let partition = replicas
                .get(
                    OFFSETS_TOPIC,
                    store::partition_for(&group, OFFSETS_PARTITIONS),
                )
                .expect("partition");
            let changes: Vec<Change> = (0..100)
                .map(|p| Change::Offset {
                    group: group.clone(),
                    topic: "orders".into(),
                    partition: p,
                    value: Some(OffsetValue {
                        offset: round,
                        leader_epoch: -1,
                        metadata: String::new(),
                        commit_timestamp: T0,
                        expire_timestamp: -1,
                    }),
                })
                .collect();
            store::append(&partition, &changes, T0).expect("append");
        }
    }
    for p in replicas.all() {
        p.log().flush().expect("flush");
    }
}

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("dir");
    {
        let (_, replicas, _) = open(dir.path(), 16 << 20);
        write_million_commits(&replicas);
    }
    let mut group = c.benchmark_group("replay_1m_commits_10k_group_partitions");
    group.sample_size(10);
    group.bench_function("uncompacted", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (coordinator, _, elapsed) = open(dir.path(), 16 << 20);
                assert_eq!(coordinator.len(), 100);
                total += elapsed;
            }
            total
        })
    });
    {
        // Compact every partition now (a zero threshold), as the broker does once they grow.
        let (coordinator, _, _) = open(dir.path(), 0);
        for p in 0..OFFSETS_PARTITIONS {
            assert!(coordinator.compact_partition(p, T0).expect("compact"));
        }
    }
    group.bench_function("compacted", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (coordinator, _, elapsed) = open(dir.path(), 16 << 20);
                assert_eq!(
                    coordinator
                        .fetch_offsets("group-7", None)
                        .expect("offsets")
                        .len(),
                    100
                );
                total += elapsed;
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, commits, replay);
criterion_main!(benches);
