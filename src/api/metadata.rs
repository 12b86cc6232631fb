//! Metadata: brokers, topics and partition leadership from the metadata image, creating requested
//! topics that do not exist yet when `auto.create.topics.enable` and the request allow it.
//!
//! A null topic list (an empty one in v0) asks for every topic. Unknown names get
//! UNKNOWN_TOPIC_OR_PARTITION, illegal ones INVALID_TOPIC_EXCEPTION, unknown ids (v10+)
//! UNKNOWN_TOPIC_ID. Auto-creation completes before the response, so the topic comes back ready.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::Context;
use crate::cluster::controller::{NewTopic, validate_topic_name};
use crate::cluster::election::NO_LEADER;
use crate::cluster::{MetadataImage, TopicInfo};
use crate::protocol::header::RequestHeader;

fn topic_entry(image: &MetadataImage, topic: &TopicInfo, version: i16) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let mut entry = MetadataResponsePartition::default()
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(p.leader))
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect());
            if p.leader == NO_LEADER {
                entry.error_code = E::LeaderNotAvailable.code();
            }
            if version >= 5 {
                entry.offline_replicas = p
                    .replicas
                    .iter()
                    .copied()
                    .filter(|r| !image.is_live(*r))
                    .map(BrokerId)
                    .collect();
            }
            if version >= 7 {
                entry.leader_epoch = p.leader_epoch;
            }
            entry
        })
        .collect();
    let mut entry = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_is_internal(topic.is_internal())
        .with_partitions(partitions);
    if version >= 10 {
        entry.topic_id = topic.id;
    }
    entry
}

fn error_entry(name: Option<&str>, topic_id: Uuid, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
        .with_topic_id(topic_id)
}

pub async fn handle(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: MetadataRequest,
) -> MetadataResponse {
    let version = header.api_version;
    let all_topics = match &request.topics {
        None => true,
        Some(list) => version == 0 && list.is_empty(),
    };
    let allow_auto_create =
        ctx.config.auto_create_topics_enable && (version < 4 || request.allow_auto_topic_creation);
    let mut topics = Vec::new();
    if all_topics {
        let image = ctx.replicas.image();
        topics.extend(
            image
                .topics
                .values()
                .map(|t| topic_entry(&image, t, version)),
        );
    } else {
        for wanted in request.topics.iter().flatten() {
            let image = ctx.replicas.image();
            let Some(name) = &wanted.name else {
                topics.push(match image.topic_by_id(&wanted.topic_id) {
                    Some(t) => topic_entry(&image, t, version),
                    None => error_entry(None, wanted.topic_id, E::UnknownTopicId.code()),
                });
                continue;
            };
            let name = name.0.as_str();
            if let Some(t) = image.topic(name) {
                topics.push(topic_entry(&image, t, version));
            } else if validate_topic_name(name).is_err() {
                topics.push(error_entry(
                    Some(name),
                    Uuid::nil(),
                    E::InvalidTopicException.code(),
                ));
            } else if allow_auto_create && !name.starts_with("__") {
                let topic = NewTopic {
                    name: name.to_string(),
                    partitions: -1,
                    replication_factor: -1,
                    assignments: None,
                    configs: Default::default(),
                };
                topics.push(match ctx.controller.create_topic_if_missing(topic).await {
                    Ok(t) => topic_entry(&image, &t, version),
                    Err(e) => error_entry(Some(name), Uuid::nil(), e.code),
                });
            } else {
                topics.push(error_entry(
                    Some(name),
                    Uuid::nil(),
                    E::UnknownTopicOrPartition.code(),
                ));
            }
        }
    }
    let image = ctx.replicas.image();
    let brokers = image
        .live_brokers()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())))
        .with_controller_id(BrokerId(ctx.controller.reported_controller_id(&image)))
        .with_topics(topics)
}
