//! Produce: append each partition's record batch (kept as the raw bytes the request carried) and
//! answer per partition.
//!
//! acks=0 sends no response (but closes the connection if anything failed, as Kafka does, so the
//! client notices); acks=1 answers after the local append; acks=-1 answers once the high watermark
//! has passed the batch and the batch is fsynced (concurrent producers share fsyncs). Produce does
//! not auto-create topics.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use tracing::warn;

use super::errors::partition_error_code;
use super::{Context, now_ms};
use crate::log::LogError;
use crate::partition::{AppendOutcome, Partition, PartitionError, TopicRef};
use crate::protocol::header::RequestHeader;
use crate::record::batch;

pub enum Reply {
    Response(ProduceResponse),
    /// acks=0 and all went well.
    None,
    /// acks=0 and something failed.
    Close(String),
}

/// One partition's fate before any waiting.
enum Appended {
    Done(AppendOutcome, Arc<Partition>),
    Failed {
        code: i16,
        message: Option<String>,
        record_error: bool,
    },
}

fn failed(code: i16, message: impl Into<String>) -> Appended {
    Appended::Failed {
        code,
        message: Some(message.into()),
        record_error: false,
    }
}

/// Checks Kafka's produce-level rules for a v3+ record set: exactly one v2 batch, and no
/// transactional batch (transactions are not supported). CRCs are the append's business.
fn check_record_set(records: &[u8]) -> Result<(), Appended> {
    // Framing only: the CRCs are checked once, by the append itself.
    let batches = batch::frame_record_set(records).map_err(|e| {
        let code = match e {
            batch::BatchError::Corrupt(_) => E::CorruptMessage.code(),
            batch::BatchError::Invalid(_) => E::InvalidRecord.code(),
        };
        Appended::Failed {
            code,
            message: Some(e.to_string()),
            record_error: code == E::InvalidRecord.code(),
        }
    })?;
    if batches.len() != 1 {
        return Err(Appended::Failed {
            code: E::InvalidRecord.code(),
            message: Some("Produce requests with version 3 and above are only allowed to contain exactly one record batch per partition".into()),
            record_error: true,
        });
    }
    if batches[0].0.is_transactional() {
        return Err(Appended::Failed {
            code: E::InvalidRecord.code(),
            message: Some("transactional writes are not supported by this broker".into()),
            record_error: true,
        });
    }
    Ok(())
}

/// When an append failed with an I/O error last logged (ms), and how many were not logged since.
static LAST_WARNING_MS: AtomicI64 = AtomicI64::new(0);
static UNLOGGED: AtomicU64 = AtomicU64::new(0);
const WARN_EVERY_MS: i64 = 10_000;

/// Logs an append's I/O failure, at most every ten seconds: on a full disk every retry of every
/// producer fails the same way.
fn warn_append_failure(topic: &str, partition: i32, error: &std::io::Error) {
    let now = now_ms();
    let last = LAST_WARNING_MS.load(Ordering::Relaxed);
    if now - last >= WARN_EVERY_MS
        && LAST_WARNING_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let unlogged = UNLOGGED.swap(0, Ordering::Relaxed);
        warn!(topic, partition, %error, similar_failures_not_logged = unlogged, "append failed");
    } else {
        UNLOGGED.fetch_add(1, Ordering::Relaxed);
    }
}

fn append_one(
    ctx: &Context,
    topic: &str,
    index: i32,
    records: Option<&bytes::Bytes>,
    acks: i16,
) -> Appended {
    if ctx
        .replicas
        .image()
        .topic(topic)
        .is_some_and(|t| t.is_internal())
    {
        return failed(
            E::InvalidTopicException.code(),
            format!("Cannot append to internal topic {topic}"),
        );
    }
    let partition = match ctx.replicas.leader(TopicRef::Name(topic), index, None) {
        Ok(p) => p,
        Err(e) => return failed(partition_error_code(&e), e.to_string()),
    };
    let Some(records) = records else {
        return failed(E::InvalidRecord.code(), "null record set");
    };
    if let Err(refused) = check_record_set(records) {
        return refused;
    }
    match partition.append_as_leader(records, acks, now_ms()) {
        Ok(outcome) => Appended::Done(outcome, partition),
        Err(e) => {
            if let PartitionError::Log(LogError::Io(io)) = &e {
                warn_append_failure(topic, index, io);
            }
            let code = partition_error_code(&e);
            Appended::Failed {
                code,
                message: Some(e.to_string()),
                record_error: code == E::InvalidRecord.code(),
            }
        }
    }
}

pub async fn handle(ctx: &Arc<Context>, header: &RequestHeader, request: ProduceRequest) -> Reply {
    let version = header.api_version;
    let acks = request.acks;
    let valid_acks = matches!(acks, -1..=1);
    let mut appended: Vec<(kafka_protocol::messages::TopicName, Vec<(i32, Appended)>)> = Vec::new();
    for topic in &request.topic_data {
        let name = topic.name.0.as_str();
        let partitions = topic
            .partition_data
            .iter()
            .map(|p| {
                let result = if !valid_acks {
                    failed(
                        E::InvalidRequiredAcks.code(),
                        format!("acks must be -1, 0 or 1, not {acks}"),
                    )
                } else {
                    append_one(ctx, name, p.index, p.records.as_ref(), acks)
                };
                (p.index, result)
            })
            .collect();
        appended.push((topic.name.clone(), partitions));
    }
    if acks == 0 {
        let failure = appended
            .iter()
            .flat_map(|(_, ps)| ps)
            .find_map(|(_, a)| match a {
                Appended::Failed { code, .. } => Some(*code),
                Appended::Done(..) => None,
            });
        return match failure {
            Some(code) => Reply::Close(format!("acks=0 produce failed with error code {code}")),
            None => Reply::None,
        };
    }
    // One deadline for the whole request, however many partitions it waits on.
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut responses = Vec::with_capacity(appended.len());
    for (name, partitions) in appended {
        let mut partition_responses = Vec::with_capacity(partitions.len());
        for (index, result) in partitions {
            let mut response = PartitionProduceResponse::default().with_index(index);
            match result {
                Appended::Done(outcome, partition) => {
                    let mut code = 0;
                    // A retried batch is acknowledged like the first write: only once that write
                    // is durable.
                    if acks == -1 {
                        let durable = partition.wait_until_durable(outcome.last_offset + 1);
                        code = match tokio::time::timeout_at(deadline, durable).await {
                            Ok(Ok(())) => 0,
                            Ok(Err(e)) => {
                                warn!(topic = %name.0, partition = index, error = %e, "acks=all wait failed");
                                partition_error_code(&e)
                            }
                            Err(_) => E::RequestTimedOut.code(),
                        };
                    }
                    response.error_code = code;
                    response.base_offset = outcome.first_offset;
                    response.log_append_time_ms = outcome.log_append_time;
                    response.log_start_offset = outcome.log_start_offset;
                }
                Appended::Failed {
                    code,
                    message,
                    record_error,
                } => {
                    response.error_code = code;
                    response.base_offset = -1;
                    response.log_append_time_ms = -1;
                    response.log_start_offset = -1;
                    if version >= 8 {
                        if record_error {
                            response.record_errors = vec![
                                BatchIndexAndErrorMessage::default()
                                    .with_batch_index(0)
                                    .with_batch_index_error_message(
                                        message.clone().map(StrBytes::from_string),
                                    ),
                            ];
                        }
                        response.error_message = message.map(StrBytes::from_string);
                    }
                }
            }
            partition_responses.push(response);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_partition_responses(partition_responses),
        );
    }
    Reply::Response(ProduceResponse::default().with_responses(responses))
}
