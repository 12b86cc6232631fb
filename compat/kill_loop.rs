//! `kill -9` in a loop under a real idempotent producer (librdkafka through the `rdkafka` crate,
//! acks=all, five requests in flight): the broker is killed and restarted while batches are on the
//! wire, the producer retries what it did not hear back about, and afterwards every record is read
//! back. Each acknowledged record must be present exactly once at the offset it was acknowledged
//! with, and no record may appear twice, acknowledged or not: retries after a crash are recognised
//! from the producer state rebuilt at start-up.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::harness::TestBroker;

/// A record's value and where it was acknowledged (partition, offset), or why it was not.
type Outcome = (String, Result<(i32, i64), String>);

const TOPIC: &str = "kill-loop";
const PARTITIONS: i32 = 3;
/// Records awaiting acknowledgement at most, so that batches are always in flight.
const WINDOW: usize = 1000;
const KILLS: usize = 5;

fn config(broker: &TestBroker) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker.addr.to_string())
        .set("log_level", "3");
    c
}

/// Every record of the topic: value -> (partition, offset) of each copy.
fn read_everything(broker: &TestBroker) -> HashMap<String, Vec<(i32, i64)>> {
    let consumer: BaseConsumer = config(broker)
        .set("enable.partition.eof", "true")
        .set("group.id", "kill-loop-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut seen: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
    let mut at_end = 0;
    while at_end < PARTITIONS {
        match consumer.poll(Duration::from_secs(15)) {
            Some(Ok(m)) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                seen.entry(value)
                    .or_default()
                    .push((m.partition(), m.offset()));
            }
            Some(Err(KafkaError::PartitionEOF(_))) => at_end += 1,
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => panic!("no record and no end of partition"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_loop_loses_and_duplicates_nothing_under_an_idempotent_producer() {
    let mut broker = TestBroker::start(&[]);
    let admin: AdminClient<DefaultClientContext> = config(&broker).create().expect("admin");
    let created = admin
        .create_topics(
            &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(15))),
        )
        .await
        .expect("create topics");
    assert!(created[0].is_ok(), "{created:?}");
    drop(admin);
    let producer: FutureProducer = config(&broker)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("batch.num.messages", "200")
        .set("max.in.flight.requests.per.connection", "5")
        .set("message.timeout.ms", "120000")
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("producer");

    // Produce without pause in the background while the broker is killed and restarted.
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let sender = tokio::spawn(async move {
        let mut pending = FuturesUnordered::new();
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut i = 0usize;
        while !stopped.load(Ordering::Relaxed) {
            let value = format!("record-{i}");
            let delivery = producer
                .send_result(
                    FutureRecord::to(TOPIC)
                        .partition((i % PARTITIONS as usize) as i32)
                        .key(&value)
                        .payload(&value),
                )
                .map_err(|(e, _)| e)
                .expect("queue");
            pending.push(async move {
                let result = match delivery.await {
                    Ok(Ok(d)) => Ok((d.partition, d.offset)),
                    Ok(Err((e, _))) => Err(e.to_string()),
                    Err(_) => Err("delivery future cancelled".to_string()),
                };
                (value, result)
            });
            i += 1;
            while pending.len() >= WINDOW {
                if let Some(outcome) = pending.next().await {
                    outcomes.push(outcome);
                }
            }
        }
        while let Some(outcome) = pending.next().await {
            outcomes.push(outcome);
        }
        outcomes
    });

    for round in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(400 + 150 * round as u64)).await;
        broker.kill9();
        tokio::time::sleep(Duration::from_millis(100)).await;
        broker.restart();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = tokio::time::timeout(Duration::from_secs(240), sender)
        .await
        .expect("the producer finished")
        .expect("producer task");

    let seen = read_everything(&broker);
    let mut acknowledged = 0;
    for (value, outcome) in &outcomes {
        let copies = seen.get(value).map_or(&[][..], Vec::as_slice);
        match outcome {
            Ok(at) => {
                acknowledged += 1;
                assert_eq!(
                    copies,
                    &[*at][..],
                    "{value} was acknowledged at {at:?} but is stored at {copies:?}"
                );
            }
            Err(e) => assert!(
                copies.len() <= 1,
                "{value} failed ({e}) and is stored {} times",
                copies.len()
            ),
        }
    }
    let stored: usize = seen.values().map(Vec::len).sum();
    assert_eq!(stored, seen.len(), "some record is stored more than once");
    assert!(
        acknowledged * 10 >= outcomes.len() * 9,
        "only {acknowledged} of {} records were acknowledged",
        outcomes.len()
    );
    eprintln!(
        "kill loop: {} records sent, {acknowledged} acknowledged, {KILLS} kills",
        outcomes.len()
    );
}
