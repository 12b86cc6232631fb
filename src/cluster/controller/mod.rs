//! The controller: the one place the cluster's metadata changes. Every change (topics, partitions,
//! configuration overrides, producer-id blocks) is validated here against the current image,
//! written as metadata records, and the new image published to this broker's partitions.
//!
//! The active controller is the leader of the metadata quorum; elsewhere a change is refused with
//! NOT_CONTROLLER. A change runs in three steps, one change at a time:
//! 1. `prepare`: the publisher makes ready what the change needs on this broker (the logs of new
//!    partitions), all or nothing. If it cannot (out of disk or descriptors), the change is refused
//!    whole and nothing of it remains.
//! 2. commit: the records are appended to the metadata quorum ([`Quorum`]) and committed by a
//!    majority of its voters.
//! 3. publish: every node applies the committed records to its image and hands the new image to
//!    its publisher ([`Publishing`]); the change returns once it is published here.
//!
//! Changes are checked against the image published here, and only once this node, as leader, has
//! applied everything committed before its term began: a new leader never validates against a
//! stale image.

mod brokers;
mod forwarding;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use tracing::{error, info};

use uuid::Uuid;

use super::image::{MetadataImage, PartitionInfo, TopicInfo};
use super::placement::{self, Candidate};
use super::publishing::Publishing;
use super::quorum::{Quorum, QuorumError};
use super::records::MetadataRecord;
use super::rpc::ControllerClient;
use crate::config::BrokerConfig;

/// A refused change: Kafka's error code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiError {
    pub code: i16,
    pub message: String,
}

impl ApiError {
    pub fn new(error: E, message: impl Into<String>) -> ApiError {
        ApiError {
            code: error.code(),
            message: message.into(),
        }
    }
}

/// Applies images to this broker (its partitions). Blocking methods: the controller calls them off
/// the async runtime.
pub trait MetadataPublisher: Send + Sync {
    /// Before `next` is committed: make ready what it needs here, all or nothing.
    fn prepare(&self, current: &MetadataImage, next: &MetadataImage) -> io::Result<()>;
    /// `next` was not committed after all: undo what `prepare` made.
    fn abandon(&self, current: &MetadataImage, next: &MetadataImage);
    /// `next` is committed: apply the change from `previous`. Topics the change did not touch are
    /// the same `Arc` in both images, which lets a publisher skip them.
    fn publish(&self, previous: &MetadataImage, next: &Arc<MetadataImage>) -> io::Result<()>;
}

/// A topic to create.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    /// Replica lists chosen by the client, one per partition (instead of a count and a factor).
    pub assignments: Option<Vec<Vec<i32>>>,
    pub configs: BTreeMap<String, String>,
}

/// A topic named by name or by id (DeleteTopics v6).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
}

/// Partitions to add to a topic.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewPartitions {
    pub topic: String,
    /// The partition count wanted.
    pub count: i32,
    /// Replica lists of the new partitions, if the client chose them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// How many producer ids a broker takes at a time.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct Controller {
    config: Arc<BrokerConfig>,
    quorum: Arc<Quorum>,
    publishing: Arc<Publishing>,
    /// One change at a time: the checks against the image and the commit after them are atomic.
    changes: tokio::sync::Mutex<()>,
    /// How changes reach the active controller from another node (a cluster only).
    client: Option<ControllerClient>,
    liveness: parking_lot::Mutex<brokers::Liveness>,
}

/// The longest legal topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name against Kafka's rules: 1 to 249 characters of `[a-zA-Z0-9._-]`, and not
/// `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name cannot be {name:?}"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "topic name is longer than {MAX_TOPIC_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name {name:?} contains {bad:?}; legal characters are ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Whether two topic names collide once '.' and '_' are treated alike (Kafka's metric names do).
pub fn names_collide(a: &str, b: &str) -> bool {
    a != b && a.replace('.', "_") == b.replace('.', "_")
}

/// Replica lists for `count` new partitions, placed over the live brokers (see
/// [`super::placement`]). The caller has checked there are enough of them.
fn assign_replicas(image: &MetadataImage, count: i32, replication_factor: i16) -> Vec<Vec<i32>> {
    let live: Vec<Candidate> = image
        .live_brokers()
        .map(|b| Candidate {
            id: b.id,
            rack: b.rack.clone(),
        })
        .collect();
    let start = (Uuid::new_v4().as_u128() % live.len().max(1) as u128) as usize;
    placement::assign(
        &live,
        usize::try_from(count).unwrap_or(0),
        usize::try_from(replication_factor).unwrap_or(1),
        start,
    )
}

/// INVALID_REPLICATION_FACTOR unless there are `replication_factor` live brokers.
fn check_replication_factor(
    image: &MetadataImage,
    replication_factor: i16,
) -> Result<(), ApiError> {
    let brokers = image.live_brokers().count();
    if replication_factor as usize > brokers {
        return Err(ApiError::new(
            E::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {brokers} broker(s) are registered."
            ),
        ));
    }
    Ok(())
}

/// Checks client-chosen replica lists: each names distinct, registered brokers, all of one size.
fn check_assignments(image: &MetadataImage, assignments: &[Vec<i32>]) -> Result<(), ApiError> {
    let size = assignments.first().map_or(0, Vec::len);
    for (i, replicas) in assignments.iter().enumerate() {
        if replicas.is_empty() || replicas.len() != size {
            return Err(ApiError::new(
                E::InvalidReplicaAssignment,
                format!(
                    "partition {i} has {} replicas where {size} were expected",
                    replicas.len()
                ),
            ));
        }
        let mut seen = replicas.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != replicas.len() {
            return Err(ApiError::new(
                E::InvalidReplicaAssignment,
                format!("partition {i} names a broker twice: {replicas:?}"),
            ));
        }
        if let Some(unknown) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
            return Err(ApiError::new(
                E::InvalidReplicaAssignment,
                format!("partition {i} names broker {unknown}, which is not registered"),
            ));
        }
    }
    Ok(())
}

impl Controller {
    pub fn new(
        config: Arc<BrokerConfig>,
        quorum: Arc<Quorum>,
        publishing: Arc<Publishing>,
    ) -> Controller {
        let client = (!config.cluster.is_single_node()).then(|| {
            let quorum = Arc::clone(&quorum);
            ControllerClient::new(
                config.cluster.voters.clone(),
                Duration::from_millis(config.cluster.request_timeout_ms),
                Arc::new(move || quorum.leader()),
            )
        });
        Controller {
            config,
            quorum,
            publishing,
            changes: tokio::sync::Mutex::new(()),
            client,
            liveness: parking_lot::Mutex::new(brokers::Liveness::default()),
        }
    }

    /// The client that reaches the active controller (a cluster only).
    pub fn client(&self) -> Option<&ControllerClient> {
        self.client.as_ref()
    }

    /// What is published on this node, as it changes.
    pub fn published(&self) -> tokio::sync::watch::Receiver<crate::cluster::quorum::Applied> {
        self.publishing.published()
    }

    /// The image as published on this node.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.publishing.image()
    }

    /// The metadata quorum.
    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }

    /// How long a change waits for the quorum.
    fn patience(&self) -> Duration {
        Duration::from_millis(
            self.config
                .cluster
                .request_timeout_ms
                .max(self.config.cluster.election_timeout_ms * 2),
        )
    }

    /// The image to check a change against: this node must lead the quorum and have published
    /// everything committed before its term.
    async fn leader_image(&self) -> Result<Arc<MetadataImage>, ApiError> {
        let not_controller = |leader: Option<i32>| {
            ApiError::new(
                E::NotController,
                match leader {
                    Some(id) => format!("This node is not the active controller; node {id} is."),
                    None => "There is no active controller right now.".to_string(),
                },
            )
        };
        if !self.quorum.is_leader() {
            return Err(not_controller(self.quorum.leader()));
        }
        let applied = self
            .quorum
            .caught_up(self.patience())
            .await
            .map_err(|_| not_controller(self.quorum.leader()))?;
        if !self.quorum.is_leader() {
            return Err(not_controller(self.quorum.leader()));
        }
        let index = applied.index.unwrap_or(0);
        self.publishing
            .wait_for(index, self.patience())
            .await
            .map(|published| published.image)
            .ok_or_else(|| not_controller(self.quorum.leader()))
    }

    /// Prepares, commits and publishes `records`, checked against `current`; returns the new image.
    async fn change(
        &self,
        current: Arc<MetadataImage>,
        records: Vec<MetadataRecord>,
    ) -> Result<Arc<MetadataImage>, ApiError> {
        let mut next = MetadataImage::clone(&current);
        for record in &records {
            next.apply(record);
        }
        let next = Arc::new(next);
        let prepared = self
            .publishing
            .prepare(Arc::clone(&current), Arc::clone(&next))
            .await;
        if let Err(e) = prepared {
            error!(error = %e, "cannot make ready what a metadata change needs; refusing it");
            return Err(ApiError::new(
                E::KafkaStorageError,
                format!("could not create the partition logs: {e}"),
            ));
        }
        let index = match self.quorum.append_within(records, self.patience()).await {
            Ok(index) => index,
            Err(e) => {
                self.publishing.abandon(current, next).await;
                return Err(match e {
                    QuorumError::NotLeader { leader } => ApiError::new(
                        E::NotController,
                        format!("This node lost the controller role (the leader is {leader:?})."),
                    ),
                    QuorumError::Failed(e) => ApiError::new(
                        E::KafkaStorageError,
                        format!("could not write cluster metadata: {e}"),
                    ),
                    QuorumError::TimedOut(_) => ApiError::new(E::RequestTimedOut, e.to_string()),
                });
            }
        };
        self.publishing
            .wait_for(index, self.patience())
            .await
            .map(|published| published.image)
            .ok_or_else(|| {
                ApiError::new(
                    E::RequestTimedOut,
                    "The change was committed but is not applied here yet.",
                )
            })
    }

    /// Checks a new topic against the image; returns its replica lists.
    fn check_new_topic(
        &self,
        image: &MetadataImage,
        topic: &NewTopic,
    ) -> Result<Vec<Vec<i32>>, ApiError> {
        validate_topic_name(&topic.name).map_err(|m| ApiError::new(E::InvalidTopicException, m))?;
        if image.topic(&topic.name).is_some() {
            return Err(ApiError::new(
                E::TopicAlreadyExists,
                format!("Topic '{}' already exists.", topic.name),
            ));
        }
        if let Some(other) = image.topics.keys().find(|t| names_collide(t, &topic.name)) {
            return Err(ApiError::new(
                E::InvalidTopicException,
                format!(
                    "Topic '{}' collides with existing topic: {other}",
                    topic.name
                ),
            ));
        }
        self.config
            .topic_config(&topic.configs)
            .map_err(|e| ApiError::new(E::InvalidConfig, e.0))?;
        if let Some(assignments) = &topic.assignments {
            if topic.partitions != -1 || topic.replication_factor != -1 {
                return Err(ApiError::new(
                    E::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set.",
                ));
            }
            if assignments.is_empty() {
                return Err(ApiError::new(
                    E::InvalidPartitions,
                    "Number of partitions must be larger than 0.",
                ));
            }
            check_assignments(image, assignments)?;
            return Ok(assignments.clone());
        }
        let partitions = match topic.partitions {
            -1 => self.config.num_partitions,
            n if n <= 0 => {
                return Err(ApiError::new(
                    E::InvalidPartitions,
                    "Number of partitions must be larger than 0.",
                ));
            }
            n => n,
        };
        let replication_factor = match topic.replication_factor {
            -1 => self.config.default_replication_factor,
            n if n <= 0 => {
                return Err(ApiError::new(
                    E::InvalidReplicationFactor,
                    "Replication factor must be larger than 0.",
                ));
            }
            n => n,
        };
        check_replication_factor(image, replication_factor)?;
        Ok(assign_replicas(image, partitions, replication_factor))
    }

    /// Creates topics, each on its own (one refused topic does not stop the others). With
    /// `validate_only` nothing is created and the answer shows what would be.
    async fn create_topics_here(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Vec<Result<Arc<TopicInfo>, ApiError>> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for t in topics {
            *seen.entry(t.name.as_str()).or_default() += 1;
        }
        let _one_at_a_time = self.changes.lock().await;
        let mut results = Vec::with_capacity(topics.len());
        for topic in topics {
            if seen.get(topic.name.as_str()).copied().unwrap_or(0) > 1 {
                results.push(Err(ApiError::new(
                    E::InvalidRequest,
                    format!(
                        "Create topics request from client contains a duplicate topic: {}",
                        topic.name
                    ),
                )));
                continue;
            }
            results.push(self.create_topic_locked(topic, validate_only).await);
        }
        results
    }

    /// Creates `topic` unless it exists (Metadata auto-creation, internal topics on first use).
    async fn create_topic_if_missing_here(
        &self,
        topic: NewTopic,
    ) -> Result<Arc<TopicInfo>, ApiError> {
        if let Some(existing) = self.image().topic(&topic.name) {
            return Ok(Arc::clone(existing));
        }
        let _one_at_a_time = self.changes.lock().await;
        if let Some(existing) = self.leader_image().await?.topic(&topic.name) {
            return Ok(Arc::clone(existing));
        }
        self.create_topic_locked(&topic, false).await
    }

    async fn create_topic_locked(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<Arc<TopicInfo>, ApiError> {
        let image = self.leader_image().await?;
        let replicas = self.check_new_topic(&image, topic)?;
        if validate_only {
            return Ok(Arc::new(TopicInfo {
                name: topic.name.clone(),
                id: Uuid::nil(),
                partitions: replicas
                    .into_iter()
                    .map(|r| PartitionInfo {
                        leader: r[0],
                        isr: r.clone(),
                        replicas: r,
                        leader_epoch: 0,
                        partition_epoch: 0,
                    })
                    .collect(),
                configs: topic.configs.clone(),
            }));
        }
        let id = Uuid::new_v4();
        let partitions = replicas.len();
        let records = MetadataRecord::new_topic(&topic.name, id, replicas, &topic.configs);
        let image = self.change(image, records).await?;
        info!(topic = %topic.name, partitions, "created topic");
        image
            .topic(&topic.name)
            .cloned()
            .ok_or_else(|| ApiError::new(E::UnknownServerError, "topic vanished after creation"))
    }

    /// Deletes topics; each answer carries the deleted topic's name and id.
    async fn delete_topics_here(
        &self,
        topics: &[TopicRef],
    ) -> Vec<Result<(String, Uuid), ApiError>> {
        let _one_at_a_time = self.changes.lock().await;
        let mut results = Vec::with_capacity(topics.len());
        for wanted in topics {
            let image = match self.leader_image().await {
                Ok(image) => image,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let found = match wanted {
                TopicRef::Name(name) => image.topic(name).cloned().ok_or_else(|| {
                    ApiError::new(
                        E::UnknownTopicOrPartition,
                        "This server does not host this topic.",
                    )
                }),
                TopicRef::Id(id) => image.topic_by_id(id).cloned().ok_or_else(|| {
                    ApiError::new(E::UnknownTopicId, "This server does not host this topic.")
                }),
            };
            let result = match found {
                Err(e) => Err(e),
                Ok(_) if !self.config.delete_topic_enable => Err(ApiError::new(
                    E::TopicDeletionDisabled,
                    "Topic deletion is disabled.",
                )),
                Ok(topic) if topic.is_internal() => Err(ApiError::new(
                    E::InvalidTopicException,
                    format!("Topic {} is internal and cannot be deleted", topic.name),
                )),
                Ok(topic) => self
                    .change(
                        Arc::clone(&image),
                        vec![MetadataRecord::RemoveTopic { id: topic.id }],
                    )
                    .await
                    .map(|_| {
                        info!(topic = %topic.name, "deleted topic");
                        (topic.name.clone(), topic.id)
                    }),
            };
            results.push(result);
        }
        results
    }

    /// Adds partitions to topics, each on its own.
    async fn create_partitions_here(
        &self,
        requests: &[NewPartitions],
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for r in requests {
            *seen.entry(r.topic.as_str()).or_default() += 1;
        }
        let _one_at_a_time = self.changes.lock().await;
        let mut results = Vec::with_capacity(requests.len());
        for request in requests {
            let image = match self.leader_image().await {
                Ok(image) => image,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let planned = (|| {
                if seen.get(request.topic.as_str()).copied().unwrap_or(0) > 1 {
                    return Err(ApiError::new(
                        E::InvalidRequest,
                        format!("Duplicate topic in request: {}", request.topic),
                    ));
                }
                let info = image.topic(&request.topic).ok_or_else(|| {
                    ApiError::new(
                        E::UnknownTopicOrPartition,
                        format!("The topic '{}' does not exist.", request.topic),
                    )
                })?;
                let current = info.partitions.len() as i32;
                if request.count <= current {
                    return Err(ApiError::new(
                        E::InvalidPartitions,
                        format!(
                            "Topic currently has {current} partitions, which is higher than the requested {}.",
                            request.count
                        ),
                    ));
                }
                let replicas = match request.assignments.as_ref().filter(|a| !a.is_empty()) {
                    Some(assignments) => {
                        if assignments.len() as i32 != request.count - current {
                            return Err(ApiError::new(
                                E::InvalidReplicaAssignment,
                                format!(
                                    "Increasing the number of partitions by {} but {} assignments provided.",
                                    request.count - current,
                                    assignments.len()
                                ),
                            ));
                        }
                        check_assignments(&image, assignments)?;
                        assignments.clone()
                    }
                    None => {
                        let rf = info
                            .partitions
                            .first()
                            .map_or(1, |p| p.replicas.len() as i16);
                        check_replication_factor(&image, rf)?;
                        assign_replicas(&image, request.count - current, rf)
                    }
                };
                Ok(MetadataRecord::new_partitions(info.id, current, replicas))
            })();
            let result = match planned {
                Ok(_) if validate_only => Ok(()),
                Ok(records) => self.change(Arc::clone(&image), records).await.map(|_| ()),
                Err(e) => Err(e),
            };
            results.push(result);
        }
        results
    }

    /// Reserves the next block of producer ids for this broker: `(first, end)`.
    async fn allocate_producer_ids_here(&self) -> Result<(i64, i64), ApiError> {
        let _one_at_a_time = self.changes.lock().await;
        let image = self.leader_image().await?;
        let start = image.next_producer_id;
        let end = start + PRODUCER_ID_BLOCK;
        self.change(
            image,
            vec![MetadataRecord::ProducerIds {
                next_producer_id: end,
            }],
        )
        .await?;
        Ok((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["orders", "a.b-c_d", "X9", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "é", "a/b", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
        assert!(names_collide("a.b", "a_b"));
        assert!(!names_collide("a.b", "a.b"));
    }
}
