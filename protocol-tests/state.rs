//! What a partition keeps beside its records, over the wire and across restarts: idempotent
//! producers recognised after a clean stop and after `kill -9`, OffsetForLeaderEpoch at every
//! version, consumer groups of a damaged `__consumer_offsets` partition isolated from the others,
//! data directories without an identity refused, and one file descriptor per open segment.

use kafe::record::batch::testing::batch_with_producer;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::harness::{Conn, TestBroker};
use crate::requests::*;

const NOW: i64 = 1_700_000_000_000;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

fn init_producer_id(conn: &mut Conn) -> (i64, i16) {
    let response: InitProducerIdResponse = conn.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(response.error_code, 0);
    (response.producer_id.0, response.producer_epoch)
}

/// Five records from the producer, starting at sequence `first_sequence`.
fn five(producer: (i64, i16), first_sequence: i32) -> Vec<u8> {
    batch_with_producer(
        0,
        NOW,
        &[b"a", b"b", b"c", b"d", b"e"],
        producer.0,
        producer.1,
        first_sequence,
    )
}

#[test]
fn an_idempotent_retry_after_a_restart_gets_its_original_offsets() {
    for crash in [false, true] {
        let mut broker = TestBroker::start(&[]);
        let mut conn = broker.connect();
        create_topic(&mut conn, "idem", 1, &[]);
        let producer = init_producer_id(&mut conn);
        assert_eq!(
            produce(&mut conn, 9, "idem", 0, five(producer, 0), -1),
            (0, 0)
        );
        assert_eq!(
            produce(&mut conn, 9, "idem", 0, five(producer, 5), -1),
            (0, 5)
        );
        drop(conn);
        if crash {
            broker.kill9();
        } else {
            broker.stop();
        }
        broker.restart();
        let mut conn = broker.connect();
        // The retry of the last batch is answered with its first offsets; nothing is appended.
        assert_eq!(
            produce(&mut conn, 9, "idem", 0, five(producer, 5), -1),
            (0, 5),
            "crash: {crash}"
        );
        assert_eq!(
            list_offset(&mut conn, 8, "idem", 0, -1).1,
            10,
            "crash: {crash}"
        );
        // An older retry too (kafe keeps the last five batches of each producer).
        assert_eq!(
            produce(&mut conn, 9, "idem", 0, five(producer, 0), -1),
            (0, 0)
        );
        // A gap is refused; the next batch in sequence is taken.
        assert_eq!(
            produce(&mut conn, 9, "idem", 0, five(producer, 15), -1).0,
            OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(
            produce(&mut conn, 9, "idem", 0, five(producer, 10), -1),
            (0, 10)
        );
        assert_eq!(list_offset(&mut conn, 8, "idem", 0, -1).1, 15);
    }
}

fn epoch_request(
    topic: &str,
    partition: i32,
    current: i32,
    asked: i32,
) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(asked),
                ]),
        ])
}

/// (error code, leader epoch, end offset)
fn end_offset(
    conn: &mut Conn,
    version: i16,
    topic: &str,
    partition: i32,
    current: i32,
    asked: i32,
) -> (i16, i32, i64) {
    let response: OffsetForLeaderEpochResponse = conn.call(
        ApiKey::OffsetForLeaderEpoch,
        version,
        &epoch_request(topic, partition, current, asked),
    );
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.partition, partition);
    (p.error_code, p.leader_epoch, p.end_offset)
}

#[test]
fn offset_for_leader_epoch_every_version() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "epochs", 2, &[]);
    let producer = init_producer_id(&mut conn);
    produce(&mut conn, 9, "epochs", 0, five(producer, 0), 1);
    for version in 2..=4 {
        // The current epoch ends at the log end; the client may name its view of the epoch or not.
        assert_eq!(end_offset(&mut conn, version, "epochs", 0, 0, 0), (0, 0, 5));
        assert_eq!(
            end_offset(&mut conn, version, "epochs", 0, -1, 0),
            (0, 0, 5)
        );
        assert_eq!(end_offset(&mut conn, version, "epochs", 1, 0, 0), (0, 0, 0));
        // An epoch the log never had: unknown, without an error.
        assert_eq!(
            end_offset(&mut conn, version, "epochs", 0, 0, 7),
            (0, -1, -1)
        );
        // A client ahead of the broker's epoch, and partitions that do not exist.
        assert_eq!(
            end_offset(&mut conn, version, "epochs", 0, 1, 0).0,
            UNKNOWN_LEADER_EPOCH
        );
        assert_eq!(
            end_offset(&mut conn, version, "epochs", 9, 0, 0).0,
            UNKNOWN_TOPIC_OR_PARTITION
        );
        assert_eq!(
            end_offset(&mut conn, version, "nope", 0, 0, 0).0,
            UNKNOWN_TOPIC_OR_PARTITION
        );
    }
    drop(conn);
    broker.kill9();
    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(end_offset(&mut conn, 4, "epochs", 0, 0, 0), (0, 0, 5));
    // acks=all: the flush that makes the batch durable writes the epoch checkpoint too.
    produce(&mut conn, 9, "epochs", 0, five(producer, 5), -1);
    assert_eq!(end_offset(&mut conn, 4, "epochs", 0, 0, 0), (0, 0, 10));
    assert!(
        broker
            .data_dir()
            .join("data/epochs-0/leader-epoch-checkpoint")
            .exists(),
        "the cache is on disk"
    );
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn commit(conn: &mut Conn, group: &str, offset: i64) {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name("data"))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ]);
    let response: OffsetCommitResponse = conn.call(ApiKey::OffsetCommit, 8, &request);
    assert_eq!(
        response.topics[0].partitions[0].error_code, 0,
        "commit {group}"
    );
}

/// (group error, partition error, committed offset)
fn fetch_committed(conn: &mut Conn, group: &str) -> (i16, i16, i64) {
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(name("data"))
                    .with_partition_indexes(vec![0]),
            ])),
    ]);
    let response: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, 8, &request);
    let g = &response.groups[0];
    match g.topics.first().and_then(|t| t.partitions.first()) {
        Some(p) => (g.error_code, p.error_code, p.committed_offset),
        None => (g.error_code, -1, -1),
    }
}

#[test]
fn a_corrupt_offsets_partition_leaves_only_its_groups_unavailable() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "data", 1, &[]);
    let damaged = "group-a";
    let spared = (0..)
        .map(|i| format!("group-{i}"))
        .find(|g| {
            kafe::group::store::partition_for(g, 50)
                != kafe::group::store::partition_for(damaged, 50)
        })
        .expect("a group in another partition");
    commit(&mut conn, damaged, 11);
    commit(&mut conn, &spared, 22);
    drop(conn);
    broker.stop();
    // Flip a byte inside the first batch's records (covered by its CRC).
    let partition = kafe::group::store::partition_for(damaged, 50);
    let segment = broker
        .partition_dir("__consumer_offsets", partition)
        .join("00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[70] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();
    broker.restart();
    let mut conn = broker.connect();
    let (group_error, partition_error, _) = fetch_committed(&mut conn, damaged);
    assert!(
        group_error == COORDINATOR_NOT_AVAILABLE || partition_error == COORDINATOR_NOT_AVAILABLE,
        "group {damaged}: {group_error} / {partition_error}"
    );
    assert_eq!(fetch_committed(&mut conn, &spared), (0, 0, 22));
    let log = broker.log();
    assert!(
        log.contains("cannot load the consumer groups") && log.contains("offset 0"),
        "the failure is logged with its offset:\n{log}"
    );
}

#[test]
fn a_data_directory_with_logs_but_no_identity_is_refused() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "kept", 1, &[]);
    drop(conn);
    broker.stop();
    std::fs::remove_file(broker.data_dir().join("data/meta.properties")).unwrap();
    let log = broker.restart_expecting_refusal();
    assert!(log.contains("no meta.properties"), "{log}");
    assert!(
        broker.data_dir().join("data/kept-0").exists(),
        "nothing was touched"
    );
}

#[test]
fn each_open_segment_holds_one_file_descriptor() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let before = broker.open_descriptors();
    create_topic(&mut conn, "many", 300, &[]);
    let producer = (-1, -1);
    for p in 0..300 {
        let (code, _) = produce(&mut conn, 9, "many", p, five(producer, -1), 1);
        assert_eq!(code, 0);
    }
    let after = broker.open_descriptors();
    // 300 active segments in use: one descriptor each (the indexes are mapped and closed).
    assert!(
        after - before <= 300 + 10,
        "{before} descriptors before, {after} after producing to 300 partitions"
    );
}
