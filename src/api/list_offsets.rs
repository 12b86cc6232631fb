//! ListOffsets: offsets by time. -1 is the latest offset a consumer may read (the high watermark),
//! -2 the earliest (log start offset), -3 the record with the largest timestamp (v7+), -4 the
//! earliest local offset (v8+; the same as -2 without tiered storage); any other timestamp T finds
//! the first record at or after T, or offset -1 when there is none.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::Context;
use super::errors::{log_error_code, partition_error_code};
use crate::partition::{Partition, TopicRef};
use crate::protocol::header::RequestHeader;

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;

/// (offset, timestamp) for one lookup.
fn lookup(partition: &Partition, timestamp: i64, version: i16) -> Result<(i64, i64), i16> {
    let upper_bound = partition.high_watermark();
    match timestamp {
        LATEST => Ok((upper_bound, -1)),
        EARLIEST => Ok((partition.log_start_offset(), -1)),
        EARLIEST_LOCAL if version >= 8 => Ok((partition.log_start_offset(), -1)),
        MAX_TIMESTAMP if version >= 7 => match partition.log().max_timestamp(upper_bound) {
            Ok(Some((offset, ts))) => Ok((offset, ts)),
            Ok(None) => Ok((-1, -1)),
            Err(e) => Err(log_error_code(&e)),
        },
        t if t >= 0 => match partition.log().offset_for_timestamp(t, upper_bound) {
            Ok(Some((offset, ts))) => Ok((offset, ts)),
            Ok(None) => Ok((-1, -1)),
            Err(e) => Err(log_error_code(&e)),
        },
        _ => Err(E::InvalidRequest.code()),
    }
}

pub async fn handle(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let version = header.api_version;
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let mut response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1);
                    let current_epoch = (version >= 4).then_some(p.current_leader_epoch);
                    let partition = match ctx.replicas.leader(
                        TopicRef::Name(topic.name.0.as_str()),
                        p.partition_index,
                        current_epoch,
                    ) {
                        Ok(partition) => partition,
                        Err(e) => return response.with_error_code(partition_error_code(&e)),
                    };
                    match lookup(&partition, p.timestamp, version) {
                        Ok((offset, timestamp)) => {
                            response.offset = offset;
                            response.timestamp = timestamp;
                            if version >= 4 && offset >= 0 {
                                // The epoch of the leader that wrote the offset (KIP-320).
                                response.leader_epoch = if p.timestamp == LATEST {
                                    partition.log().latest_epoch()
                                } else {
                                    partition.log().epoch_for_offset(offset)
                                }
                                .unwrap_or(-1);
                            }
                            response
                        }
                        Err(code) => response.with_error_code(code),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
