//! Produce, Fetch, ListOffsets, DeleteRecords and InitProducerId across their versions: records read
//! back byte for byte, offsets, error codes, acks, idempotence, fetch sessions, long polls and
//! pipelining.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafe::record::batch::testing::{batch, batch_with_producer};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::harness::{Conn, TestBroker};
use crate::requests::*;

const NOW: i64 = 1_700_000_000_000;

/// Checks that `records` holds exactly `expected` with base offset `base`, all but the patched
/// base offset and leader epoch equal to what was produced.
fn assert_same_batch(records: &[u8], expected: &[u8], base: i64) {
    assert_eq!(records.len(), expected.len(), "batch length");
    assert_eq!(
        i64::from_be_bytes(records[..8].try_into().unwrap()),
        base,
        "base offset"
    );
    assert_eq!(&records[16..], &expected[16..], "batch content");
}

#[test]
fn every_produce_version_round_trips_through_every_fetch_version() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "rt", 1, &[]);
    let id = topic_id(&mut conn, "rt");
    let mut produced = Vec::new();
    for version in 3..=11 {
        let value = format!("value from produce v{version}");
        let records = batch(0, NOW + i64::from(version), &[value.as_bytes()]);
        let (code, offset) = produce(&mut conn, version, "rt", 0, records.clone(), 1);
        assert_eq!(
            (code, offset),
            (0, i64::from(version) - 3),
            "produce v{version}"
        );
        produced.push(records);
    }
    for version in 4..=16 {
        for (i, expected) in produced.iter().enumerate() {
            let p = fetch(&mut conn, version, "rt", id, 0, i as i64);
            assert_eq!(p.error_code, 0, "fetch v{version}");
            assert_eq!(p.high_watermark, 9);
            let records = p.records.expect("records");
            // The fetch returns every batch from the one holding the offset to the end.
            let first_len = expected.len();
            assert_same_batch(&records[..first_len], expected, i as i64);
            assert_eq!(
                records.len(),
                produced[i..].iter().map(Vec::len).sum::<usize>()
            );
        }
        let at_end = fetch(&mut conn, version, "rt", id, 0, 9);
        assert_eq!(at_end.error_code, 0);
        assert_eq!(
            at_end.records.as_deref(),
            Some(&b""[..]),
            "v{version}: empty, not null"
        );
        let beyond = fetch(&mut conn, version, "rt", id, 0, 10);
        assert_eq!(beyond.error_code, 1, "OFFSET_OUT_OF_RANGE");
        assert_eq!(beyond.high_watermark, 9);
    }
}

#[test]
fn produce_errors_match_kafka() {
    let broker = TestBroker::start(&["message.max.bytes=2000"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "p", 1, &[]);
    let good = batch(0, NOW, &[b"x"]);
    assert_eq!(
        produce(&mut conn, 9, "missing", 0, good.clone(), 1).0,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        produce(&mut conn, 9, "p", 7, good.clone(), 1).0,
        3,
        "unknown partition"
    );
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        produce(&mut conn, 9, "p", 0, corrupt, 1).0,
        2,
        "CORRUPT_MESSAGE"
    );
    assert_eq!(
        produce(&mut conn, 9, "p", 0, batch(0, NOW, &[&[0u8; 3000]]), 1).0,
        10,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(
        produce(&mut conn, 9, "p", 0, good.clone(), 2).0,
        21,
        "INVALID_REQUIRED_ACKS"
    );
    let mut two = good.clone();
    two.extend_from_slice(&good);
    let response: ProduceResponse = conn.call(
        ApiKey::Produce,
        9,
        &produce_request("p", 0, Bytes::from(two), 1),
    );
    let p = &response.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 87, "INVALID_RECORD for two batches");
    assert_eq!(p.record_errors.len(), 1);
    assert!(p.error_message.is_some());
    let mut v1 = good.clone();
    v1[16] = 1;
    assert_eq!(
        produce(&mut conn, 9, "p", 0, v1, 1).0,
        87,
        "magic 1 is refused"
    );
    // Nothing was written by any of the above.
    assert_eq!(list_offset(&mut conn, 8, "p", 0, -1).1, 0);
    assert_eq!(produce(&mut conn, 9, "p", 0, good, 1), (0, 0));
}

#[test]
fn acks_zero_sends_nothing_and_acks_all_waits_for_fsync() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "acks", 1, &[]);
    let mut body = BytesMut::new();
    produce_request("acks", 0, Bytes::from(batch(0, NOW, &[b"zero"])), 0)
        .encode(&mut body, 9)
        .unwrap();
    conn.send(ApiKey::Produce, 9, &body);
    // The next response on the connection is the metadata one: acks=0 got none.
    let id = conn.send(ApiKey::Metadata, 1, &[0, 0, 0, 0]);
    let mut response = conn.read_response(ApiKey::Metadata, 1, id);
    MetadataResponse::decode(&mut response, 1).unwrap();
    assert_eq!(
        produce(&mut conn, 9, "acks", 0, batch(0, NOW, &[b"all"]), -1),
        (0, 1)
    );
    assert_eq!(list_offset(&mut conn, 8, "acks", 0, -1).1, 2);
    // acks=0 with an error closes the connection, as Kafka does.
    let mut body = BytesMut::new();
    produce_request("missing", 0, Bytes::from(batch(0, NOW, &[b"x"])), 0)
        .encode(&mut body, 9)
        .unwrap();
    conn.send(ApiKey::Produce, 9, &body);
    assert!(conn.read_frame().is_none());
}

#[test]
fn list_offsets_every_version() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "lo", 1, &[]);
    // Three batches: offsets 0-1 at NOW+0/1, 2-3 at NOW+100/101, 4 at NOW+50.
    produce(&mut conn, 9, "lo", 0, batch(0, NOW, &[b"a", b"b"]), 1);
    produce(&mut conn, 9, "lo", 0, batch(0, NOW + 100, &[b"c", b"d"]), 1);
    produce(&mut conn, 9, "lo", 0, batch(0, NOW + 50, &[b"e"]), 1);
    for version in 1..=8 {
        assert_eq!(
            list_offset(&mut conn, version, "lo", 0, -2),
            (0, 0, -1),
            "v{version} earliest"
        );
        assert_eq!(
            list_offset(&mut conn, version, "lo", 0, -1),
            (0, 5, -1),
            "v{version} latest"
        );
        assert_eq!(
            list_offset(&mut conn, version, "lo", 0, NOW + 1),
            (0, 1, NOW + 1),
            "v{version} exact"
        );
        assert_eq!(
            list_offset(&mut conn, version, "lo", 0, NOW + 2),
            (0, 2, NOW + 100),
            "v{version} next batch"
        );
        assert_eq!(
            list_offset(&mut conn, version, "lo", 0, NOW + 500),
            (0, -1, -1),
            "v{version} none"
        );
        if version >= 7 {
            assert_eq!(
                list_offset(&mut conn, version, "lo", 0, -3),
                (0, 3, NOW + 101),
                "v{version} max timestamp"
            );
        }
        assert_eq!(list_offset(&mut conn, version, "missing", 0, -1).0, 3);
    }
}

#[test]
fn delete_records_every_version() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "dr", 1, &[]);
    for _ in 0..5 {
        produce(&mut conn, 9, "dr", 0, batch(0, NOW, &[b"a", b"b"]), 1);
    }
    for version in 0..=2 {
        let offset = 2 + i64::from(version) * 2;
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(name("dr"))
                    .with_partitions(vec![
                        DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(offset),
                    ]),
            ]);
        let response: DeleteRecordsResponse = conn.call(ApiKey::DeleteRecords, version, &request);
        let p = &response.topics[0].partitions[0];
        assert_eq!((p.error_code, p.low_watermark), (0, offset), "v{version}");
        assert_eq!(list_offset(&mut conn, 8, "dr", 0, -2).1, offset);
    }
    let beyond = DeleteRecordsRequest::default().with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(name("dr"))
            .with_partitions(vec![
                DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(99),
            ]),
    ]);
    let response: DeleteRecordsResponse = conn.call(ApiKey::DeleteRecords, 2, &beyond);
    assert_eq!(
        response.topics[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
    let id = topic_id(&mut conn, "dr");
    let p = fetch(&mut conn, 12, "dr", id, 0, 0);
    assert_eq!(
        (p.error_code, p.log_start_offset),
        (1, 6),
        "reads below the start are out of range"
    );
}

#[test]
fn idempotent_producers_get_ids_and_duplicates_are_dropped() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "idem", 1, &[]);
    let mut ids = Vec::new();
    for version in 0..=4 {
        let response: InitProducerIdResponse = conn.call(
            ApiKey::InitProducerId,
            version,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60000),
        );
        assert_eq!(
            (response.error_code, response.producer_epoch),
            (0, 0),
            "v{version}"
        );
        ids.push(response.producer_id.0);
    }
    ids.dedup();
    assert_eq!(ids.len(), 5, "every producer gets its own id");
    let pid = ids[0];
    let first = batch_with_producer(0, NOW, &[b"a", b"b"], pid, 0, 0);
    assert_eq!(produce(&mut conn, 9, "idem", 0, first.clone(), -1), (0, 0));
    assert_eq!(
        produce(&mut conn, 9, "idem", 0, first, -1),
        (0, 0),
        "a retry gets the original offset"
    );
    assert_eq!(
        produce(
            &mut conn,
            9,
            "idem",
            0,
            batch_with_producer(0, NOW, &[b"c"], pid, 0, 2),
            -1
        ),
        (0, 2)
    );
    let gap = batch_with_producer(0, NOW, &[b"d"], pid, 0, 9);
    assert_eq!(
        produce(&mut conn, 9, "idem", 0, gap, -1).0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(
        list_offset(&mut conn, 8, "idem", 0, -1).1,
        3,
        "the duplicate was not written"
    );
    let transactional: InitProducerIdResponse = conn.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(
            kafka_protocol::protocol::StrBytes::from_static_str("tx"),
        ))),
    );
    assert_ne!(transactional.error_code, 0, "transactions are refused");
}

fn session_fetch(
    conn: &mut Conn,
    session_id: i32,
    epoch: i32,
    partitions: &[(i32, i64)],
    forgotten: &[i32],
) -> FetchResponse {
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_id(session_id)
        .with_session_epoch(epoch)
        .with_topics(if partitions.is_empty() {
            vec![]
        } else {
            vec![
                FetchTopic::default().with_topic(name("s")).with_partitions(
                    partitions
                        .iter()
                        .map(|(p, o)| {
                            FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(*o)
                                .with_partition_max_bytes(1 << 20)
                        })
                        .collect(),
                ),
            ]
        })
        .with_forgotten_topics_data(if forgotten.is_empty() {
            vec![]
        } else {
            vec![
                ForgottenTopic::default()
                    .with_topic(name("s"))
                    .with_partitions(forgotten.to_vec()),
            ]
        });
    conn.call(ApiKey::Fetch, 11, &request)
}

fn partitions_in(response: &FetchResponse) -> Vec<i32> {
    response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
        .collect()
}

#[test]
fn fetch_sessions_send_only_what_changed() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "s", 3, &[]);
    produce(&mut conn, 9, "s", 0, batch(0, NOW, &[b"a"]), 1);
    let full = session_fetch(&mut conn, 0, 0, &[(0, 0), (1, 0), (2, 0)], &[]);
    assert_eq!(full.error_code, 0);
    assert_ne!(full.session_id, 0, "a session was created");
    assert_eq!(partitions_in(&full), vec![0, 1, 2]);
    let id = full.session_id;
    // Nothing new: an incremental fetch returns no partitions.
    let quiet = session_fetch(&mut conn, id, 1, &[(0, 1)], &[]);
    assert_eq!((quiet.error_code, quiet.session_id), (0, id));
    assert!(
        partitions_in(&quiet).is_empty(),
        "{:?}",
        partitions_in(&quiet)
    );
    // New data on partition 2 comes back alone.
    produce(&mut conn, 9, "s", 2, batch(0, NOW, &[b"b"]), 1);
    let news = session_fetch(&mut conn, id, 2, &[], &[]);
    assert_eq!(partitions_in(&news), vec![2]);
    // Forget partition 2; new data there is no longer reported.
    session_fetch(&mut conn, id, 3, &[(2, 1)], &[2]);
    produce(&mut conn, 9, "s", 2, batch(0, NOW, &[b"c"]), 1);
    let after = session_fetch(&mut conn, id, 4, &[], &[]);
    assert!(partitions_in(&after).is_empty());
    assert_eq!(
        session_fetch(&mut conn, id, 4, &[], &[]).error_code,
        71,
        "INVALID_FETCH_SESSION_EPOCH"
    );
    assert_eq!(
        session_fetch(&mut conn, id + 1, 1, &[], &[]).error_code,
        70,
        "FETCH_SESSION_ID_NOT_FOUND"
    );
    let closed = session_fetch(&mut conn, id, -1, &[(0, 0)], &[]);
    assert_eq!((closed.error_code, closed.session_id), (0, 0));
    assert_eq!(
        session_fetch(&mut conn, id, 6, &[], &[]).error_code,
        70,
        "closed sessions are gone"
    );
}

#[test]
fn a_waiting_fetch_wakes_when_data_arrives() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "lp", 1, &[]);
    let id = topic_id(&mut conn, "lp");
    let mut waiter = broker.connect();
    let mut body = BytesMut::new();
    fetch_request("lp", id, 0, 0, 10_000)
        .encode(&mut body, 13)
        .unwrap();
    let started = Instant::now();
    let correlation = waiter.send(ApiKey::Fetch, 13, &body);
    std::thread::sleep(Duration::from_millis(300));
    produce(&mut conn, 9, "lp", 0, batch(0, NOW, &[b"wake"]), 1);
    let mut response = waiter.read_response(ApiKey::Fetch, 13, correlation);
    let waited = started.elapsed();
    let decoded = FetchResponse::decode(&mut response, 13).unwrap();
    assert!(
        !decoded.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .is_empty()
    );
    assert!(
        waited < Duration::from_secs(5),
        "woke after {waited:?}, not on arrival"
    );
    // With nothing arriving, the wait lasts max_wait_ms and returns empty.
    let mut body = BytesMut::new();
    fetch_request("lp", id, 0, 1, 400)
        .encode(&mut body, 13)
        .unwrap();
    let started = Instant::now();
    let correlation = waiter.send(ApiKey::Fetch, 13, &body);
    let mut response = waiter.read_response(ApiKey::Fetch, 13, correlation);
    assert!(started.elapsed() >= Duration::from_millis(380));
    let decoded = FetchResponse::decode(&mut response, 13).unwrap();
    assert_eq!(
        decoded.responses[0].partitions[0].records.as_deref(),
        Some(&b""[..])
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "pipe", 1, &[]);
    let id = topic_id(&mut conn, "pipe");
    // A long-polling fetch first, then metadata requests behind it on the same connection.
    let mut fetch_body = BytesMut::new();
    fetch_request("pipe", id, 0, 0, 700)
        .encode(&mut fetch_body, 13)
        .unwrap();
    let f = conn.send(ApiKey::Fetch, 13, &fetch_body);
    let m1 = conn.send(ApiKey::Metadata, 1, &[0, 0, 0, 0]);
    let m2 = conn.send(ApiKey::Metadata, 1, &[0, 0, 0, 0]);
    conn.read_response(ApiKey::Fetch, 13, f);
    conn.read_response(ApiKey::Metadata, 1, m1);
    conn.read_response(ApiKey::Metadata, 1, m2);
}

#[test]
fn fetch_limits_return_whole_batches_and_at_least_one() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "lim", 1, &[]);
    let id = topic_id(&mut conn, "lim");
    let one = batch(0, NOW, &[&[7u8; 1000]]);
    for _ in 0..10 {
        produce(&mut conn, 9, "lim", 0, one.clone(), 1);
    }
    let request = |max_bytes: i32, partition_max: i32| {
        FetchRequest::default()
            .with_max_bytes(max_bytes)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic_id(id)
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(3)
                            .with_partition_max_bytes(partition_max),
                    ]),
            ])
    };
    let tiny: FetchResponse = conn.call(ApiKey::Fetch, 13, &request(10, 10));
    assert_eq!(
        tiny.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .len(),
        one.len(),
        "at least one batch"
    );
    let two_and_a_half = (one.len() * 5 / 2) as i32;
    let by_partition: FetchResponse =
        conn.call(ApiKey::Fetch, 13, &request(1 << 20, two_and_a_half));
    assert_eq!(
        by_partition.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .len(),
        one.len() * 2
    );
    let by_request: FetchResponse = conn.call(ApiKey::Fetch, 13, &request(two_and_a_half, 1 << 20));
    assert_eq!(
        by_request.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .len(),
        one.len() * 2
    );
}
