//! CreateTopics, DeleteTopics and CreatePartitions: translation between the wire and the
//! controller, which validates, commits and applies each change before the response goes out (so a
//! client can produce to a topic as soon as it is told the topic exists).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::Context;
use crate::cluster::controller::{NewPartitions, NewTopic, TopicRef};
use crate::cluster::{ApiError, TopicInfo};
use crate::config::keys;
use crate::protocol::header::RequestHeader;

/// The configuration a created topic reports (v5+): every topic key with its value and source.
fn described_configs(
    ctx: &Context,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    keys::TOPIC_KEYS
        .iter()
        .map(|key| {
            let (value, origin) = ctx.config.describe_topic(key, overrides);
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(key.name))
                .with_value(value.map(StrBytes::from_string))
                .with_config_source(super::configs::topic_source(origin))
        })
        .collect()
}

/// A request's topic, or why it is refused before the controller sees it.
fn new_topic(
    topic: &kafka_protocol::messages::create_topics_request::CreatableTopic,
) -> Result<NewTopic, ApiError> {
    let mut configs = BTreeMap::new();
    for c in &topic.configs {
        match &c.value {
            Some(v) => {
                configs.insert(c.name.to_string(), v.to_string());
            }
            None => {
                return Err(ApiError::new(
                    E::InvalidConfig,
                    format!("Null value not supported for topic configs: {}", &*c.name),
                ));
            }
        }
    }
    Ok(NewTopic {
        name: topic.name.0.to_string(),
        partitions: topic.num_partitions,
        replication_factor: topic.replication_factor,
        assignments: (!topic.assignments.is_empty()).then(|| {
            topic
                .assignments
                .iter()
                .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                .collect()
        }),
        configs,
    })
}

pub async fn create_topics(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = header.api_version;
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for t in &request.topics {
        *counts.entry(t.name.0.as_str()).or_default() += 1;
    }
    // Kafka refuses every copy of a topic named twice.
    let parsed: Vec<Result<NewTopic, ApiError>> = request
        .topics
        .iter()
        .map(|t| {
            if counts.get(t.name.0.as_str()).copied().unwrap_or(0) > 1 {
                return Err(ApiError::new(
                    E::InvalidRequest,
                    format!(
                        "Create topics request from client contains a duplicate topic: {}",
                        t.name.0.as_str()
                    ),
                ));
            }
            new_topic(t)
        })
        .collect();
    let valid: Vec<NewTopic> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let mut created = ctx
        .controller
        .create_topics(&valid, request.validate_only)
        .await
        .into_iter();
    let results = request
        .topics
        .iter()
        .zip(parsed)
        .map(|(topic, parsed)| {
            let outcome: Result<Arc<TopicInfo>, ApiError> = match parsed {
                Err(e) => Err(e),
                Ok(_) => created.next().unwrap_or_else(|| {
                    Err(ApiError::new(
                        E::UnknownServerError,
                        "no answer for the topic",
                    ))
                }),
            };
            let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
            match outcome {
                Ok(info) => {
                    if version >= 7 {
                        result.topic_id = info.id;
                    }
                    if version >= 5 {
                        result.num_partitions = info.partitions.len() as i32;
                        result.replication_factor = info
                            .partitions
                            .first()
                            .map_or(0, |p| p.replicas.len() as i16);
                        result.configs = Some(described_configs(ctx, &info.configs));
                    }
                }
                Err(e) => {
                    result.error_code = e.code;
                    if version >= 1 {
                        result.error_message = Some(StrBytes::from_string(e.message));
                    }
                }
            }
            result
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete_topics(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let version = header.api_version;
    // Up to v5 topics come by name; v6 names each by name or id.
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let refs: Vec<TopicRef> = wanted
        .iter()
        .map(|(name, id)| match name {
            Some(n) => TopicRef::Name(n.clone()),
            None => TopicRef::Id(*id),
        })
        .collect();
    let outcomes = ctx.controller.delete_topics(&refs).await;
    let responses = wanted
        .into_iter()
        .zip(outcomes)
        .map(|((name, id), outcome)| {
            let mut result = DeletableTopicResult::default()
                .with_name(name.map(|n| TopicName(StrBytes::from_string(n))));
            if version >= 6 {
                result.topic_id = id;
            }
            match outcome {
                Ok((name, id)) => {
                    if version >= 6 {
                        result.name = Some(TopicName(StrBytes::from_string(name)));
                        result.topic_id = id;
                    }
                }
                Err(e) => {
                    result.error_code = e.code;
                    if version >= 5 {
                        result.error_message = Some(StrBytes::from_string(e.message));
                    }
                }
            }
            result
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let requests: Vec<NewPartitions> = request
        .topics
        .iter()
        .map(|t| NewPartitions {
            topic: t.name.0.to_string(),
            count: t.count,
            assignments: t.assignments.as_ref().map(|a| {
                a.iter()
                    .map(|p| p.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            }),
        })
        .collect();
    let outcomes = ctx
        .controller
        .create_partitions(&requests, request.validate_only)
        .await;
    let results = request
        .topics
        .iter()
        .zip(outcomes)
        .map(|(topic, outcome)| {
            let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            if let Err(e) = outcome {
                result.error_code = e.code;
                result.error_message = Some(StrBytes::from_string(e.message));
            }
            result
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
