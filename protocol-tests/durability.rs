//! Crash durability: records acknowledged with acks=all survive `kill -9` and a torn partial batch
//! at the end of the active segment; new records continue at the next offset.

use std::io::Write;

use kafe::record::batch::testing::batch;

use crate::harness::TestBroker;
use crate::requests::*;

const NOW: i64 = 1_700_000_000_000;

#[test]
fn acknowledged_records_survive_kill_9_and_a_torn_tail() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "crash", 1, &[]);
    let mut acknowledged = Vec::new();
    for i in 0..200 {
        let value = format!("record {i}");
        let records = batch(0, NOW + i, &[value.as_bytes()]);
        let (code, offset) = produce(&mut conn, 9, "crash", 0, records.clone(), -1);
        assert_eq!(code, 0);
        assert_eq!(offset, i);
        acknowledged.push(records);
    }
    drop(conn);
    broker.kill9();
    // What a crash in the middle of a write leaves: the first part of a batch.
    let segment = broker
        .partition_dir("crash", 0)
        .join("00000000000000000000.log");
    let torn = batch(200, NOW, &[b"never acknowledged"]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&torn[..torn.len() / 2])
        .unwrap();
    broker.restart();
    let mut conn = broker.connect();
    let id = topic_id(&mut conn, "crash");
    for (offset, expected) in acknowledged.iter().enumerate() {
        let p = fetch(&mut conn, 12, "crash", id, 0, offset as i64);
        assert_eq!(p.error_code, 0);
        let records = p.records.expect("records");
        assert_eq!(
            i64::from_be_bytes(records[..8].try_into().unwrap()),
            offset as i64
        );
        assert_eq!(
            &records[16..expected.len()],
            &expected[16..],
            "record {offset}"
        );
    }
    assert_eq!(
        list_offset(&mut conn, 8, "crash", 0, -1).1,
        200,
        "the torn batch is gone"
    );
    assert_eq!(
        produce(&mut conn, 9, "crash", 0, batch(0, NOW, &[b"after"]), -1),
        (0, 200)
    );
    assert!(
        broker
            .log()
            .contains("recovery truncated a torn or corrupt tail"),
        "recovery did not log the cut"
    );
}

#[test]
fn a_clean_restart_keeps_topics_offsets_and_configs() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "kept", 3, &[("retention.ms", "86400000")]);
    for p in 0..3 {
        for _ in 0..=p {
            produce(&mut conn, 9, "kept", p, batch(0, NOW, &[b"x"]), 1);
        }
    }
    drop(conn);
    broker.stop();
    assert!(broker.data_dir().join("data/.kafka_cleanshutdown").exists());
    broker.restart();
    let mut conn = broker.connect();
    for p in 0..3 {
        assert_eq!(list_offset(&mut conn, 8, "kept", p, -1).1, i64::from(p) + 1);
    }
    assert_eq!(
        produce(&mut conn, 9, "kept", 2, batch(0, NOW, &[b"y"]), 1),
        (0, 3)
    );
}
