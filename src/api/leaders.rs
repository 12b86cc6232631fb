//! ElectLeaders: preferred leader elections on request (`kafka-leader-election --election-type
//! PREFERRED`). A partition whose preferred replica already leads gets ELECTION_NOT_NEEDED, one
//! whose preferred replica is not live and in sync PREFERRED_LEADER_NOT_AVAILABLE. Unclean
//! elections are not made: such a request gets ELECTION_NOT_NEEDED where the leader is live and
//! ELIGIBLE_LEADERS_NOT_AVAILABLE where it is not. A null partition list means every partition,
//! and then only partitions where something happened or failed are listed, as Kafka does.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::cluster::ApiError;
use crate::protocol::header::RequestHeader;

const PREFERRED: i8 = 0;

pub async fn handle(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let image = ctx.controller.image();
    let every_partition = request.topic_partitions.is_none();
    let wanted: Vec<(String, i32)> = match &request.topic_partitions {
        Some(topics) => topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic.0.to_string(), *p))
            })
            .collect(),
        None => image
            .topics
            .values()
            .flat_map(|t| (0..t.partitions.len() as i32).map(move |p| (t.name.clone(), p)))
            .collect(),
    };
    let results: Vec<Result<(), ApiError>> = if request.election_type == PREFERRED {
        ctx.controller.elect_preferred_leaders(&wanted).await
    } else {
        wanted
            .iter()
            .map(
                |(topic, partition)| match image.partition(topic, *partition) {
                    None => Err(ApiError::new(
                        E::UnknownTopicOrPartition,
                        "The partition does not exist.",
                    )),
                    Some(p) if image.is_live(p.leader) => Err(ApiError::new(
                        E::ElectionNotNeeded,
                        "The partition has a live leader.",
                    )),
                    Some(_) => Err(ApiError::new(
                        E::EligibleLeadersNotAvailable,
                        "No in-sync replica is live, and unclean elections are not supported.",
                    )),
                },
            )
            .collect()
    };
    let mut by_topic: Vec<ReplicaElectionResult> = Vec::new();
    for ((topic, partition), result) in wanted.into_iter().zip(results) {
        let (code, message) = match result {
            Ok(()) => (0, None),
            Err(e) => (e.code, Some(e.message)),
        };
        if every_partition && code == E::ElectionNotNeeded.code() {
            continue;
        }
        let entry = PartitionResult::default()
            .with_partition_id(partition)
            .with_error_code(code)
            .with_error_message(message.map(StrBytes::from_string));
        match by_topic.iter_mut().find(|r| r.topic.0.as_str() == topic) {
            Some(r) => r.partition_result.push(entry),
            None => by_topic.push(
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partition_result(vec![entry]),
            ),
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(by_topic)
}
