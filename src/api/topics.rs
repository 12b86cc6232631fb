//! Topic lifecycle: CreateTopics, DeleteTopics, CreatePartitions, and the topic creation that
//! Metadata's auto-creation shares.
//!
//! A change is checked against the current image under the admin lock, committed to the metadata
//! log (fsynced), and then applied to the hosted partitions before the response goes out, so a
//! client can produce to a topic as soon as it is told the topic exists.

use std::collections::{BTreeMap, HashMap};
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
use tracing::{error, info};
use uuid::Uuid;

use super::errors::{names_collide, validate_topic_name};
use super::{Context, now_ms};
use crate::cluster::{MetadataImage, MetadataRecord, TopicInfo};
use crate::config::keys;
use crate::protocol::header::RequestHeader;

/// A refused change: the error code and a message for the client.
pub type Refusal = (i16, String);

/// What to create.
pub struct NewTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// Checks a new topic against the image and the configuration; returns the partition count and
/// replication factor it will have.
fn check_new_topic(
    ctx: &Context,
    image: &MetadataImage,
    topic: &NewTopic,
) -> Result<(i32, i16), Refusal> {
    validate_topic_name(&topic.name).map_err(|m| (E::InvalidTopicException.code(), m))?;
    if image.topic(&topic.name).is_some() {
        return Err((
            E::TopicAlreadyExists.code(),
            format!("Topic '{}' already exists.", topic.name),
        ));
    }
    if let Some(other) = image.topics.keys().find(|t| names_collide(t, &topic.name)) {
        return Err((
            E::InvalidTopicException.code(),
            format!(
                "Topic '{}' collides with existing topic: {other}",
                topic.name
            ),
        ));
    }
    let partitions = match topic.partitions {
        -1 => ctx.config.num_partitions,
        n if n <= 0 => {
            return Err((
                E::InvalidPartitions.code(),
                "Number of partitions must be larger than 0.".into(),
            ));
        }
        n => n,
    };
    let replication_factor = match topic.replication_factor {
        -1 => ctx.config.default_replication_factor,
        n if n <= 0 => {
            return Err((
                E::InvalidReplicationFactor.code(),
                "Replication factor must be larger than 0.".into(),
            ));
        }
        n => n,
    };
    let brokers = image.brokers.len();
    if replication_factor as usize > brokers {
        return Err((
            E::InvalidReplicationFactor.code(),
            format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {brokers} broker(s) are registered."
            ),
        ));
    }
    ctx.config
        .topic_config(&topic.configs)
        .map_err(|e| (E::InvalidConfig.code(), e.0))?;
    Ok((partitions, replication_factor))
}

/// Replica lists for partitions `first..first + count`, spread round-robin over the brokers.
fn assign_replicas(
    image: &MetadataImage,
    first: i32,
    count: i32,
    replication_factor: i16,
) -> Vec<Vec<i32>> {
    let brokers: Vec<i32> = image.brokers.keys().copied().collect();
    (first..first + count)
        .map(|p| {
            (0..replication_factor as usize)
                .map(|r| brokers[(p as usize + r) % brokers.len()])
                .collect()
        })
        .collect()
}

/// How often each name occurs in a request (Kafka refuses every copy of a duplicated topic).
fn name_counts<'a>(names: impl Iterator<Item = &'a TopicName>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for name in names {
        *counts.entry(name.0.to_string()).or_default() += 1;
    }
    counts
}

/// Commits `records` and applies the new image to the hosted partitions.
async fn commit_and_apply(
    ctx: &Arc<Context>,
    records: Vec<MetadataRecord>,
) -> Result<Arc<MetadataImage>, Refusal> {
    let image = ctx.metadata.commit(records, now_ms()).await.map_err(|e| {
        (
            E::KafkaStorageError.code(),
            format!("could not write cluster metadata: {e}"),
        )
    })?;
    let apply_ctx = Arc::clone(ctx);
    let applied = Arc::clone(&image);
    let result = tokio::task::spawn_blocking(move || {
        apply_ctx
            .replicas
            .apply(&applied, &apply_ctx.config, now_ms())
    })
    .await;
    match result {
        Ok(Ok(())) => Ok(image),
        Ok(Err(e)) => {
            error!(error = %e, "could not apply cluster metadata to local partitions");
            Err((
                E::KafkaStorageError.code(),
                format!("could not create partition logs: {e}"),
            ))
        }
        Err(e) => Err((
            E::UnknownServerError.code(),
            format!("metadata apply task failed: {e}"),
        )),
    }
}

/// Creates one topic (or only checks it, with `validate_only`). The caller holds the admin lock.
pub async fn create_topic_locked(
    ctx: &Arc<Context>,
    topic: &NewTopic,
    validate_only: bool,
) -> Result<Arc<TopicInfo>, Refusal> {
    let image = ctx.metadata.image();
    let (partitions, replication_factor) = check_new_topic(ctx, &image, topic)?;
    let id = Uuid::new_v4();
    let replicas = assign_replicas(&image, 0, partitions, replication_factor);
    if validate_only {
        return Ok(Arc::new(TopicInfo {
            name: topic.name.clone(),
            id: Uuid::nil(),
            partitions: replicas
                .into_iter()
                .map(|r| crate::cluster::PartitionInfo {
                    leader: r[0],
                    isr: r.clone(),
                    replicas: r,
                    leader_epoch: 0,
                })
                .collect(),
            configs: topic.configs.clone(),
        }));
    }
    let records = MetadataRecord::new_topic(&topic.name, id, replicas, &topic.configs);
    let image = commit_and_apply(ctx, records).await?;
    info!(topic = %topic.name, partitions, replication_factor, "created topic");
    image.topic(&topic.name).cloned().ok_or_else(|| {
        (
            E::UnknownServerError.code(),
            "topic vanished after creation".into(),
        )
    })
}

/// Creates a topic with the broker defaults if it does not exist yet (Metadata auto-creation).
pub async fn auto_create(ctx: &Arc<Context>, name: &str) -> Result<Arc<TopicInfo>, Refusal> {
    let _admin = ctx.admin.lock().await;
    if let Some(existing) = ctx.metadata.image().topic(name) {
        return Ok(Arc::clone(existing));
    }
    let topic = NewTopic {
        name: name.to_string(),
        partitions: -1,
        replication_factor: -1,
        configs: BTreeMap::new(),
    };
    create_topic_locked(ctx, &topic, false).await
}

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

pub async fn create_topics(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = header.api_version;
    let seen = name_counts(request.topics.iter().map(|t| &t.name));
    let _admin = ctx.admin.lock().await;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        let outcome = if seen.get(&name).copied().unwrap_or(0) > 1 {
            Err((
                E::InvalidRequest.code(),
                format!("Create topics request from client contains a duplicate topic: {name}"),
            ))
        } else if !topic.assignments.is_empty()
            && (topic.num_partitions != -1 || topic.replication_factor != -1)
        {
            Err((
                E::InvalidRequest.code(),
                "Both numPartitions or replicationFactor and replicasAssignments were set."
                    .to_string(),
            ))
        } else {
            let mut configs = BTreeMap::new();
            let mut null_config = None;
            for c in &topic.configs {
                match &c.value {
                    Some(v) => {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                    None => null_config = Some(c.name.to_string()),
                }
            }
            if let Some(key) = null_config {
                Err((
                    E::InvalidConfig.code(),
                    format!("Null value not supported for topic configs: {key}"),
                ))
            } else {
                let (partitions, replication_factor) = if topic.assignments.is_empty() {
                    (topic.num_partitions, topic.replication_factor)
                } else {
                    (
                        topic.assignments.len() as i32,
                        topic.assignments[0].broker_ids.len() as i16,
                    )
                };
                let new = NewTopic {
                    name: name.clone(),
                    partitions,
                    replication_factor,
                    configs,
                };
                create_topic_locked(ctx, &new, request.validate_only).await
            }
        };
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
            Err((code, message)) => {
                result.error_code = code;
                if version >= 1 {
                    result.error_message = Some(StrBytes::from_string(message));
                }
            }
        }
        results.push(result);
    }
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
    let _admin = ctx.admin.lock().await;
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let image = ctx.metadata.image();
        let found = match &name {
            Some(n) => image
                .topic(n)
                .cloned()
                .ok_or(E::UnknownTopicOrPartition.code()),
            None => image
                .topic_by_id(&id)
                .cloned()
                .ok_or(E::UnknownTopicId.code()),
        };
        let mut result = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))));
        if version >= 6 {
            result.topic_id = id;
        }
        let outcome = match found {
            Err(code) => Err((code, "This server does not host this topic.".to_string())),
            Ok(_) if !ctx.config.delete_topic_enable => Err((
                E::TopicDeletionDisabled.code(),
                "Topic deletion is disabled.".to_string(),
            )),
            Ok(topic) if topic.is_internal() => Err((
                E::InvalidTopicException.code(),
                format!("Topic {} is internal and cannot be deleted", topic.name),
            )),
            Ok(topic) => {
                if version >= 6 {
                    result.name = Some(TopicName(StrBytes::from_string(topic.name.clone())));
                    result.topic_id = topic.id;
                }
                let removed =
                    commit_and_apply(ctx, vec![MetadataRecord::RemoveTopic { id: topic.id }]).await;
                if removed.is_ok() {
                    info!(topic = %topic.name, "deleted topic");
                }
                removed.map(|_| ())
            }
        };
        if let Err((code, message)) = outcome {
            result.error_code = code;
            if version >= 5 {
                result.error_message = Some(StrBytes::from_string(message));
            }
        }
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let seen = name_counts(request.topics.iter().map(|t| &t.name));
    let _admin = ctx.admin.lock().await;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let image = ctx.metadata.image();
        let outcome: Result<(), Refusal> = (|| {
            if seen.get(&name).copied().unwrap_or(0) > 1 {
                return Err((
                    E::InvalidRequest.code(),
                    format!("Duplicate topic in request: {name}"),
                ));
            }
            let info = image.topic(&name).ok_or((
                E::UnknownTopicOrPartition.code(),
                format!("The topic '{name}' does not exist."),
            ))?;
            let current = info.partitions.len() as i32;
            if topic.count <= current {
                return Err((
                    E::InvalidPartitions.code(),
                    format!(
                        "Topic currently has {current} partitions, which is higher than the requested {}.",
                        topic.count
                    ),
                ));
            }
            if let Some(assignments) = topic.assignments.as_ref().filter(|a| !a.is_empty())
                && assignments.len() as i32 != topic.count - current
            {
                return Err((
                    E::InvalidReplicaAssignment.code(),
                    format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        topic.count - current,
                        assignments.len()
                    ),
                ));
            }
            Ok(())
        })();
        let outcome = match outcome {
            Ok(()) if request.validate_only => Ok(()),
            Ok(()) => match image.topic(&name) {
                Some(info) => {
                    let current = info.partitions.len() as i32;
                    let rf = info
                        .partitions
                        .first()
                        .map_or(1, |p| p.replicas.len() as i16);
                    let replicas = assign_replicas(&image, current, topic.count - current, rf);
                    let records = MetadataRecord::new_partitions(info.id, current, replicas);
                    commit_and_apply(ctx, records).await.map(|_| ())
                }
                None => Err((
                    E::UnknownTopicOrPartition.code(),
                    format!("The topic '{name}' does not exist."),
                )),
            },
            Err(e) => Err(e),
        };
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        if let Err((code, message)) = outcome {
            result.error_code = code;
            result.error_message = Some(StrBytes::from_string(message));
        }
        results.push(result);
    }
    CreatePartitionsResponse::default().with_results(results)
}
