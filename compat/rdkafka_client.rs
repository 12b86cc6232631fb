//! The `rdkafka` crate (librdkafka 2.12): admin, an idempotent acks=all producer, then `kill -9`, a
//! torn batch at the end of the active segment, a restart, and every acknowledged record read back
//! with its offset by a consumer; watermarks and offsets by time.

use std::io::Write;
use std::time::Duration;

use kafe::record::batch::testing::batch;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::harness::TestBroker;

const TIMEOUT: Duration = Duration::from_secs(15);

fn config(broker: &TestBroker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.addr.to_string())
        .set("log_level", "3");
    c
}

/// Everything in partition 0 of `topic`, as (offset, key, value).
fn read_all(broker: &TestBroker, topic: &str) -> Vec<(i64, Vec<u8>, Vec<u8>)> {
    let consumer: BaseConsumer = config(broker)
        .set("enable.partition.eof", "true")
        .set("group.id", "rdkafka-compat")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    loop {
        match consumer.poll(TIMEOUT) {
            Some(Ok(m)) => out.push((
                m.offset(),
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Some(Err(KafkaError::PartitionEOF(_))) => return out,
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => panic!("no record and no end of partition within {TIMEOUT:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_kill_9_and_a_torn_tail() {
    let mut broker = TestBroker::start(&[]);
    let admin: AdminClient<DefaultClientContext> = config(&broker).create().expect("admin");
    let created = admin
        .create_topics(
            &[NewTopic::new("rk", 1, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("create topics");
    assert!(created[0].is_ok(), "{created:?}");
    let again = admin
        .create_topics(
            &[NewTopic::new("rk", 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics");
    assert!(
        matches!(&again[0], Err((_, RDKafkaErrorCode::TopicAlreadyExists))),
        "{again:?}"
    );

    let producer: FutureProducer = config(&broker)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..2000 {
        let key = format!("key-{i}");
        let value = format!("value-{i}");
        deliveries.push(
            producer
                .send_result(
                    FutureRecord::to("rk")
                        .partition(0)
                        .key(&key)
                        .payload(&value),
                )
                .expect("queue"),
        );
    }
    let mut acknowledged = Vec::new();
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let delivered = delivery
            .await
            .expect("delivery future")
            .unwrap_or_else(|(e, _)| panic!("record {i}: {e}"));
        acknowledged.push((
            delivered.offset,
            format!("key-{i}").into_bytes(),
            format!("value-{i}").into_bytes(),
        ));
    }
    assert!(
        acknowledged
            .iter()
            .enumerate()
            .all(|(i, (o, _, _))| *o == i as i64),
        "offsets are dense"
    );
    drop(producer);

    broker.kill9();
    let segment = broker
        .partition_dir("rk", 0)
        .join("00000000000000000000.log");
    let torn = batch(2000, 0, &[b"half written"]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&torn[..40])
        .unwrap();
    broker.restart();

    assert_eq!(
        read_all(&broker, "rk"),
        acknowledged,
        "after kill -9 and a torn tail"
    );
    let consumer: BaseConsumer = config(&broker).create().expect("consumer");
    assert_eq!(
        consumer
            .fetch_watermarks("rk", 0, TIMEOUT)
            .expect("watermarks"),
        (0, 2000)
    );
    let producer: FutureProducer = config(&broker)
        .set("acks", "all")
        .create()
        .expect("producer");
    let next = producer
        .send(
            FutureRecord::to("rk")
                .partition(0)
                .key("k")
                .payload("after"),
            TIMEOUT,
        )
        .await
        .expect("produce");
    assert_eq!(
        next.offset, 2000,
        "offsets continue after the recovered tail"
    );

    let admin: AdminClient<DefaultClientContext> = config(&broker).create().expect("admin");
    let deleted = admin
        .delete_topics(
            &["rk"],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("delete");
    assert!(deleted[0].is_ok(), "{deleted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_for_times_finds_records_in_compressed_batches() {
    let broker = TestBroker::start(&[]);
    let producer: FutureProducer = config(&broker)
        .set("compression.type", "gzip")
        .set("linger.ms", "50")
        .create()
        .expect("producer");
    let t0 = 1_700_000_000_000i64;
    let mut pending = Vec::new();
    for i in 0..100 {
        let value = format!("v{i}");
        pending.push(
            producer
                .send_result(
                    FutureRecord::to("rk-time")
                        .partition(0)
                        .key("k")
                        .payload(&value)
                        .timestamp(t0 + i * 10),
                )
                .expect("queue"),
        );
    }
    for p in pending {
        p.await.expect("delivery").expect("delivered");
    }
    let consumer: BaseConsumer = config(&broker).create().expect("consumer");
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset("rk-time", 0, Offset::Offset(t0 + 555))
        .expect("query");
    let found = consumer
        .offsets_for_times(query, TIMEOUT)
        .expect("offsets for times");
    assert_eq!(
        found
            .find_partition("rk-time", 0)
            .expect("partition")
            .offset(),
        Offset::Offset(56)
    );
}
