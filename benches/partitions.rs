//! Many partitions on one broker: creates TOPICS x PARTITIONS (default 100 x 100 = 10,000),
//! produces one batch to every partition, reads each back, then restarts cleanly and after
//! `kill -9`. Reports the time each step takes, the broker's resident memory and open file
//! descriptors along the way, and checks that every record is still there after each restart.
//!
//! `cargo bench --bench partitions [-- TOPICS PARTITIONS]`; run it under the open-file limit you
//! want to prove (`ulimit -n 20000`).

#[path = "../protocol-tests/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../protocol-tests/requests.rs"]
#[allow(dead_code)]
mod requests;

use std::time::Instant;

use bytes::Bytes;
use harness::{Conn, TestBroker};
use kafe::record::batch::testing::batch;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use requests::*;

const NOW: i64 = 1_700_000_000_000;

fn figures(broker: &TestBroker, what: &str, started: Instant) {
    println!(
        "{what:<36} {:>8.2} s   RSS {:>6.1} MB   {:>6} open files",
        started.elapsed().as_secs_f64(),
        broker.rss_kib() as f64 / 1024.0,
        broker.open_descriptors()
    );
}

fn open_file_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Produces one record to every partition of `topic`, in one request.
fn produce_all(conn: &mut Conn, topic: &str, partitions: i32) {
    let data = (0..partitions)
        .map(|p| {
            let value = format!("{topic}/{p}");
            PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(Bytes::from(batch(0, NOW, &[value.as_bytes()]))))
        })
        .collect();
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(data),
        ]);
    let response: ProduceResponse = conn.call(ApiKey::Produce, 9, &request);
    for p in &response.responses[0].partition_responses {
        assert_eq!(p.error_code, 0, "{topic}-{}", p.index);
    }
}

/// Checks that every partition holds exactly its one record.
fn verify_all(conn: &mut Conn, topics: i32, partitions: i32) {
    for t in 0..topics {
        let topic = format!("many-{t}");
        for p in 0..partitions {
            assert_eq!(
                list_offset(conn, 8, &topic, p, -1),
                (0, 1, -1),
                "{topic}-{p}"
            );
        }
    }
}

fn main() {
    let args: Vec<i32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let topics = args.first().copied().unwrap_or(100);
    let partitions = args.get(1).copied().unwrap_or(100);
    println!(
        "{topics} topics x {partitions} partitions = {} partitions; open-file limit {}",
        topics * partitions,
        open_file_limit()
    );
    let started = Instant::now();
    let mut broker = TestBroker::start(&["log.segment.bytes=1048576"]);
    figures(&broker, "start", started);
    let mut conn = broker.connect();

    let started = Instant::now();
    for t in 0..topics {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(60_000)
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(name(&format!("many-{t}")))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1),
            ]);
        let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &request);
        assert_eq!(
            response.topics[0].error_code, 0,
            "{:?}",
            response.topics[0].error_message
        );
    }
    figures(&broker, "create topics", started);

    let started = Instant::now();
    for t in 0..topics {
        produce_all(&mut conn, &format!("many-{t}"), partitions);
    }
    figures(&broker, "produce one batch to each", started);

    let started = Instant::now();
    verify_all(&mut conn, topics, partitions);
    figures(&broker, "list offsets of each", started);
    drop(conn);

    let started = Instant::now();
    broker.stop();
    println!(
        "{:<36} {:>8.2} s",
        "clean stop",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    broker.restart();
    figures(&broker, "restart after a clean stop", started);
    let mut conn = broker.connect();
    verify_all(&mut conn, topics, partitions);
    drop(conn);

    broker.kill9();
    let started = Instant::now();
    broker.restart();
    figures(&broker, "restart after kill -9", started);
    let mut conn = broker.connect();
    let started = Instant::now();
    verify_all(&mut conn, topics, partitions);
    figures(&broker, "list offsets of each again", started);
}
