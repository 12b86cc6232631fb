//! DescribeQuorum: the metadata quorum as its leader sees it (voters, leader, epoch, high
//! watermark, how far each voter has got), for `kafka-metadata-quorum` and admin clients. Any node
//! answers it; a node that is not the quorum leader asks the leader. Only `__cluster_metadata`
//! partition 0 exists; other partitions get UNKNOWN_TOPIC_OR_PARTITION.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::cluster::quorum::{METADATA_TOPIC, QuorumStatus};
use crate::protocol::header::RequestHeader;

/// A Raft index as a log offset after it (Kafka's end offsets and high watermark are exclusive).
fn end_offset(index: Option<u64>) -> i64 {
    index.map_or(-1, |i| i64::try_from(i).map_or(i64::MAX, |i| i + 1))
}

fn partition(status: &QuorumStatus, version: i16) -> PartitionData {
    let now = crate::clock::now_ms();
    let voters = status
        .voters
        .iter()
        .map(|(id, matched)| {
            let mut state = ReplicaState::default()
                .with_replica_id(BrokerId(*id))
                .with_log_end_offset(end_offset(*matched))
                .with_last_fetch_timestamp(-1)
                .with_last_caught_up_timestamp(-1);
            if version >= 1 && Some(*id) == status.leader {
                state.last_fetch_timestamp = now;
                state.last_caught_up_timestamp = now;
            }
            state
        })
        .collect();
    PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(status.leader.unwrap_or(-1)))
        .with_leader_epoch(i32::try_from(status.term).unwrap_or(i32::MAX))
        .with_high_watermark(end_offset(status.high_watermark))
        .with_current_voters(voters)
}

pub async fn handle(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let version = header.api_version;
    let status = ctx.controller.describe_quorum().await;
    let mut response = DescribeQuorumResponse::default();
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            response.error_code = e.code;
            if version >= 2 {
                response.error_message = Some(StrBytes::from_string(e.message));
            }
            return response;
        }
    };
    response.topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    if topic.topic_name.0.as_str() == METADATA_TOPIC && p.partition_index == 0 {
                        partition(&status, version)
                    } else {
                        PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(E::UnknownTopicOrPartition.code())
                    }
                })
                .collect();
            TopicData::default()
                .with_topic_name(topic.topic_name.clone())
                .with_partitions(partitions)
        })
        .collect();
    if version >= 2 {
        let listener = ctx
            .config
            .cluster
            .controller_listener_names
            .first()
            .cloned()
            .unwrap_or_else(|| "CONTROLLER".to_string());
        response.nodes = ctx
            .config
            .cluster
            .voters
            .iter()
            .map(|v| {
                Node::default()
                    .with_node_id(BrokerId(v.id))
                    .with_listeners(vec![
                        Listener::default()
                            .with_name(StrBytes::from_string(listener.clone()))
                            .with_host(StrBytes::from_string(v.host.clone()))
                            .with_port(v.port),
                    ])
            })
            .collect();
    }
    response
}
