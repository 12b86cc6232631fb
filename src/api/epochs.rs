//! OffsetForLeaderEpoch (versions 2-4, the ones Kafka 4 serves): for each partition, the largest
//! leader epoch at or below the one asked for and the offset where it ends, from the leader-epoch
//! cache. Followers use it to find where their log diverged from a new leader's; KIP-320 consumers
//! use it to detect a log truncated under them. The client's current leader epoch is checked first
//! (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH); unknown epochs answer -1 / -1 without an error, as
//! in Kafka.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::Context;
use super::errors::partition_error_code;
use crate::log::leader_epoch::{UNDEFINED_EPOCH, UNDEFINED_OFFSET};
use crate::partition::TopicRef;
use crate::protocol::header::RequestHeader;

pub async fn handle(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let mut result = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_OFFSET);
                    match ctx.replicas.leader(
                        TopicRef::Name(topic.topic.0.as_str()),
                        p.partition,
                        Some(p.current_leader_epoch),
                    ) {
                        Ok(partition) => {
                            let (epoch, end) = partition.end_offset_for_epoch(p.leader_epoch);
                            result.leader_epoch = epoch;
                            result.end_offset = end;
                        }
                        Err(e) => result.error_code = partition_error_code(&e),
                    }
                    result
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
