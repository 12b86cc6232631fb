//! Fetch: read whole batches below each partition's high watermark as file regions, waiting up to
//! `max_wait_ms` for `min_bytes` to arrive, in a fetch session when the client asks for one.
//!
//! Byte limits: each partition gets at most its `partition_max_bytes` and what remains of the
//! request's `max_bytes`; the first partition that returns data returns at least one whole batch
//! even if it is larger, as Kafka does, so a consumer can always make progress. A waiting fetch is
//! woken by a high watermark move on any partition it reads.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use kafka_protocol::messages::FetchRequest;
use tokio::time::Instant;

use super::Context;
use super::errors::partition_error_code;
use super::fetch_session::{FetchPlan, FetchPosition, PartitionKey, Reported};
use crate::partition::{Partition, TopicRef};
use crate::protocol::fetch_encoder::{FetchResult, FetchedPartition, FetchedTopic};
use crate::protocol::header::RequestHeader;

/// One partition's outcome in one read pass.
struct PartitionResult {
    key: PartitionKey,
    data: FetchedPartition,
}

fn error_result(
    key: &PartitionKey,
    code: i16,
    high_watermark: i64,
    log_start_offset: i64,
) -> PartitionResult {
    PartitionResult {
        key: key.clone(),
        data: FetchedPartition {
            index: key.partition,
            error_code: code,
            high_watermark,
            last_stable_offset: high_watermark,
            log_start_offset,
            aborted_transactions: None,
            records: None,
        },
    }
}

/// Finds the partition a key names, or the error code for why it cannot be read.
fn resolve(
    ctx: &Context,
    key: &PartitionKey,
    by_id: bool,
    leader_epoch: i32,
) -> Result<Arc<Partition>, i16> {
    let topic = if by_id {
        TopicRef::Id(key.topic_id)
    } else {
        TopicRef::Name(&key.topic)
    };
    ctx.replicas
        .leader(topic, key.partition, Some(leader_epoch))
        .map_err(|e| partition_error_code(&e))
}

/// One pass over the plan. Returns the results and the record bytes found.
fn read_all(
    ctx: &Context,
    plan: &FetchPlan,
    by_id: bool,
    max_bytes: i64,
    read_committed: bool,
) -> (Vec<PartitionResult>, i64, bool) {
    let mut results = Vec::with_capacity(plan.partitions.len());
    let mut remaining = max_bytes.max(0);
    let mut total = 0i64;
    let mut any_error = false;
    for (key, position) in &plan.partitions {
        let partition = match resolve(ctx, key, by_id, position.current_leader_epoch) {
            Ok(p) => p,
            Err(code) => {
                any_error = true;
                results.push(error_result(key, code, -1, -1));
                continue;
            }
        };
        let budget = i64::from(position.max_bytes.max(0)).min(remaining);
        let min_one = total == 0;
        match partition.read(position.fetch_offset, budget as u64, min_one) {
            Ok(read) => {
                let bytes = read.region.as_ref().map_or(0, |r| r.len as i64);
                total += bytes;
                remaining = (remaining - bytes).max(0);
                results.push(PartitionResult {
                    key: key.clone(),
                    data: FetchedPartition {
                        index: key.partition,
                        error_code: 0,
                        high_watermark: read.high_watermark,
                        last_stable_offset: read.high_watermark,
                        log_start_offset: read.log_start_offset,
                        aborted_transactions: read_committed.then(Vec::new),
                        records: read.region,
                    },
                });
            }
            Err(e) => {
                any_error = true;
                results.push(error_result(
                    key,
                    partition_error_code(&e),
                    partition.high_watermark(),
                    partition.log_start_offset(),
                ));
            }
        }
    }
    (results, total, any_error)
}

/// The partitions of the plan that exist, to wait on.
fn waitable(ctx: &Context, plan: &FetchPlan, by_id: bool) -> Vec<Arc<Partition>> {
    plan.partitions
        .iter()
        .filter_map(|(key, position)| resolve(ctx, key, by_id, position.current_leader_epoch).ok())
        .collect()
}

fn session_error(code: i16) -> FetchResult {
    FetchResult {
        error_code: code,
        ..FetchResult::default()
    }
}

pub async fn handle(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: FetchRequest,
) -> FetchResult {
    let version = header.api_version;
    let by_id = version >= 13;
    let image = ctx.replicas.image();
    let key_of = |name: &str, id: uuid::Uuid, partition: i32| -> PartitionKey {
        let topic: Arc<str> = if by_id {
            image
                .topic_by_id(&id)
                .map_or_else(|| Arc::from(""), |t| Arc::from(t.name.as_str()))
        } else {
            Arc::from(name)
        };
        PartitionKey {
            topic,
            topic_id: if by_id { id } else { uuid::Uuid::nil() },
            partition,
        }
    };
    let requested: Vec<(PartitionKey, FetchPosition)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    key_of(t.topic.0.as_str(), t.topic_id, p.partition),
                    FetchPosition {
                        fetch_offset: p.fetch_offset,
                        max_bytes: p.partition_max_bytes,
                        current_leader_epoch: p.current_leader_epoch,
                    },
                )
            })
        })
        .collect();
    let forgotten: Vec<PartitionKey> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| key_of(t.topic.0.as_str(), t.topic_id, *p))
        })
        .collect();
    let (session_id, epoch) = if version >= 7 {
        (request.session_id, request.session_epoch)
    } else {
        (0, -1)
    };
    let plan = match ctx
        .fetch_sessions
        .begin(session_id, epoch, requested, forgotten)
    {
        Ok(plan) => plan,
        Err(code) => return session_error(code),
    };
    let read_committed = request.isolation_level == 1;
    let max_bytes = if request.max_bytes <= 0 {
        i64::from(i32::MAX)
    } else {
        i64::from(request.max_bytes)
    };
    let min_bytes = i64::from(request.min_bytes.max(0));
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let mut shutting_down = ctx.shutting_down.clone();
    let results = loop {
        let partitions = waitable(ctx, &plan, by_id);
        // Arm the wake-ups before reading, so that data arriving in between is not missed.
        let mut moved: FuturesUnordered<_> = partitions
            .iter()
            .map(|p| {
                let mut notified = Box::pin(p.high_watermark_moved());
                notified.as_mut().enable();
                notified
            })
            .collect();
        let (results, total, any_error) = read_all(ctx, &plan, by_id, max_bytes, read_committed);
        if total >= min_bytes
            || any_error
            || Instant::now() >= deadline
            || *shutting_down.borrow()
            || partitions.is_empty()
        {
            break results;
        }
        tokio::select! {
            _ = moved.next() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutting_down.changed() => {}
        }
    };
    let mut topics: Vec<FetchedTopic> = Vec::new();
    for result in results {
        let reported = Reported {
            high_watermark: result.data.high_watermark,
            log_start_offset: result.data.log_start_offset,
            error_code: result.data.error_code,
        };
        let include = ctx.fetch_sessions.report(
            plan.session_id,
            &result.key,
            reported,
            result.data.records.is_some(),
        );
        if plan.incremental && !include {
            continue;
        }
        match topics.last_mut() {
            Some(t)
                if t.name.as_str() == &*result.key.topic && t.topic_id == result.key.topic_id =>
            {
                t.partitions.push(result.data)
            }
            _ => topics.push(FetchedTopic {
                name: result.key.topic.to_string(),
                topic_id: result.key.topic_id,
                partitions: vec![result.data],
            }),
        }
    }
    FetchResult {
        throttle_time_ms: 0,
        error_code: 0,
        session_id: plan.session_id,
        topics,
    }
}
