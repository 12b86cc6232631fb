//! The quorum's storage against openraft's own conformance suite, the pre-quorum conversion, and a
//! quorum of one across restarts.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;
use uuid::Uuid;

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::types::{QuorumNode, Raft, StorageError};
use super::*;
use crate::cluster::MetadataRecord;
use crate::config::Voter;
use crate::log::LogManager;

const T0: i64 = 1_700_000_000_000;

fn metadata_log(logs: &LogManager) -> Arc<Log> {
    logs.get_or_create(METADATA_TOPIC, 0, metadata_log_config(), T0)
        .expect("create the metadata log")
}

fn keep_no_space() -> log_store::ReleaseSpace {
    Arc::new(|| false)
}

/// Builds a fresh log store and state machine in a temporary directory for each suite case.
struct Fresh;

impl StoreBuilder<Raft, LogStore, StateMachine, (TempDir, Arc<LogManager>)> for Fresh {
    async fn build(
        &self,
    ) -> Result<((TempDir, Arc<LogManager>), LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let logs = crate::testing::logs(dir.path());
        let log = metadata_log(&logs);
        let store = LogStore::open(Arc::clone(&log), keep_no_space()).expect("open the log store");
        let state_machine = StateMachine::open(
            log.dir(),
            Arc::clone(log.log_dir()),
            MetadataImage::default(),
        )
        .expect("open the state machine");
        Ok(((dir, logs), store, state_machine))
    }
}

#[test]
fn storage_passes_openraft_conformance_suite() {
    Suite::test_all(Fresh).expect("every case of the suite passes");
}

fn one_voter(node_id: i32) -> QuorumSettings {
    QuorumSettings {
        node_id,
        voters: vec![Voter {
            id: node_id,
            host: "127.0.0.1".into(),
            port: 9093,
        }],
        election_timeout_ms: 200,
        request_timeout_ms: 2_000,
    }
}

fn base(cluster_id: &str) -> MetadataImage {
    MetadataImage {
        cluster_id: cluster_id.into(),
        last_offset: -1,
        ..MetadataImage::default()
    }
}

async fn start(logs: &Arc<LogManager>) -> Arc<Quorum> {
    let quorum = Quorum::start(
        &one_voter(0),
        metadata_log(logs),
        base(&logs.cluster_id().unwrap()),
        keep_no_space(),
        logs.cluster_id(),
    )
    .await
    .expect("start the quorum");
    quorum
        .caught_up(Duration::from_secs(10))
        .await
        .expect("a quorum of one elects itself");
    quorum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_of_one_commits_and_keeps_its_records_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let id = Uuid::new_v4();
    let (index, term) = {
        let logs = crate::testing::logs(dir.path());
        let quorum = start(&logs).await;
        assert!(quorum.is_leader());
        let index = quorum
            .append(vec![
                MetadataRecord::Topic {
                    name: "orders".into(),
                    id,
                },
                MetadataRecord::ProducerIds {
                    next_producer_id: 1000,
                },
            ])
            .await
            .expect("commit");
        let applied = quorum.applied().borrow().clone();
        assert_eq!(applied.index, Some(index));
        assert_eq!(applied.image.topic("orders").unwrap().id, id);
        let term = quorum.status().term;
        // No clean shutdown: what `append` acknowledged was fsynced before it returned.
        drop(quorum);
        (index, term)
    };
    let logs = crate::testing::logs(dir.path());
    let quorum = start(&logs).await;
    let applied = quorum.caught_up(Duration::from_secs(10)).await.unwrap();
    assert!(applied.index.unwrap() >= index);
    assert!(quorum.status().term >= term);
    assert_eq!(applied.image.topic("orders").unwrap().id, id);
    assert_eq!(applied.image.next_producer_id, 1000);
    assert_eq!(Some(applied.image.cluster_id.clone()), logs.cluster_id());
    quorum.shutdown().await;
}

#[test]
fn a_pre_quorum_metadata_log_is_converted_once() {
    let dir = tempfile::tempdir().unwrap();
    let id = Uuid::new_v4();
    let logs = crate::testing::logs(dir.path());
    let log = metadata_log(&logs);
    // What kafe wrote before the quorum: one batch of plain records per change.
    for record in [
        MetadataRecord::Topic {
            name: "orders".into(),
            id,
        },
        MetadataRecord::ProducerIds {
            next_producer_id: 2000,
        },
    ] {
        let value = record.encode();
        let batch = crate::record::batch::build(
            0,
            T0,
            crate::record::batch::ProducerFields::NONE,
            &[crate::record::batch::NewRecord {
                value: Some(&value),
                ..Default::default()
            }],
        );
        log.append_as_leader(&batch, 0, T0).unwrap();
    }
    let node = QuorumNode {
        host: "127.0.0.1".into(),
        port: 9092,
    };
    assert!(legacy::migrate(&log, 0, node.clone()).unwrap());
    assert!(
        !legacy::migrate(&log, 0, node).unwrap(),
        "a converted log is left alone"
    );
    assert_eq!(
        log.log_start_offset(),
        2,
        "the log starts after the old records"
    );
    drop(log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let quorum = start(&logs).await;
        let image = quorum.applied().borrow().image.clone();
        assert_eq!(image.topic("orders").unwrap().id, id);
        assert_eq!(image.next_producer_id, 2000);
        let index = quorum
            .append(vec![MetadataRecord::RemoveTopic { id }])
            .await
            .unwrap();
        assert!(index >= 2, "new entries follow the converted ones: {index}");
        quorum.shutdown().await;
    });
}
