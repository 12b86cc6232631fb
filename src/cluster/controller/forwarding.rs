//! Where a metadata change runs: here when this node is the active controller (or a single
//! node), otherwise on the active controller, forwarded over the controller listener
//! ([`super::super::rpc`]). Handlers call these methods and never need to know which it was.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;

use super::{ApiError, Controller, NewPartitions, NewTopic, TopicRef};
use crate::cluster::image::TopicInfo;
use crate::cluster::quorum::QuorumStatus;
use crate::cluster::rpc::{CONTROLLER_CALL, Call, CallReply, Reply, RpcError};

/// Where a call went.
enum Routed {
    Here,
    There(Result<CallReply, ApiError>),
}

fn unexpected(reply: &CallReply) -> ApiError {
    ApiError::new(
        E::UnknownServerError,
        format!("the controller answered with an unexpected reply: {reply:?}"),
    )
}

impl Controller {
    async fn route(&self, call: impl FnOnce() -> Call) -> Routed {
        let Some(client) = &self.client else {
            return Routed::Here;
        };
        if self.quorum.is_leader() {
            return Routed::Here;
        }
        // Long enough to ride out an election.
        let within =
            Duration::from_millis(self.config.cluster.election_timeout_ms * 5).max(self.patience());
        let answer = client
            .call::<Call, CallReply>(CONTROLLER_CALL, &call(), within)
            .await;
        Routed::There(answer.map_err(|e| match e {
            RpcError::Refused(e) => e,
            RpcError::NoController(why) => ApiError::new(
                E::NotController,
                format!("No active controller could be reached: {why}"),
            ),
        }))
    }

    /// Creates topics, each on its own (one refused topic does not stop the others). With
    /// `validate_only` nothing is created and the answer shows what would be.
    pub async fn create_topics(
        &self,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Vec<Result<Arc<TopicInfo>, ApiError>> {
        let call = || Call::CreateTopics {
            topics: topics.to_vec(),
            validate_only,
        };
        match self.route(call).await {
            Routed::Here => self.create_topics_here(topics, validate_only).await,
            Routed::There(Ok(CallReply::Topics(results))) => {
                results.into_iter().map(|r| r.map(Arc::new)).collect()
            }
            Routed::There(Ok(other)) => vec![Err(unexpected(&other)); topics.len()],
            Routed::There(Err(e)) => vec![Err(e); topics.len()],
        }
    }

    /// Creates `topic` unless it exists (Metadata auto-creation, internal topics on first use).
    pub async fn create_topic_if_missing(
        &self,
        topic: NewTopic,
    ) -> Result<Arc<TopicInfo>, ApiError> {
        if let Some(existing) = self.image().topic(&topic.name) {
            return Ok(Arc::clone(existing));
        }
        match self
            .route(|| Call::CreateTopicIfMissing(topic.clone()))
            .await
        {
            Routed::Here => self.create_topic_if_missing_here(topic).await,
            Routed::There(Ok(CallReply::Topic(result))) => result.map(Arc::new),
            Routed::There(Ok(other)) => Err(unexpected(&other)),
            Routed::There(Err(e)) => Err(e),
        }
    }

    /// Deletes topics; each answer carries the deleted topic's name and id.
    pub async fn delete_topics(
        &self,
        topics: &[TopicRef],
    ) -> Vec<Result<(String, uuid::Uuid), ApiError>> {
        match self.route(|| Call::DeleteTopics(topics.to_vec())).await {
            Routed::Here => self.delete_topics_here(topics).await,
            Routed::There(Ok(CallReply::Deleted(results))) => results,
            Routed::There(Ok(other)) => vec![Err(unexpected(&other)); topics.len()],
            Routed::There(Err(e)) => vec![Err(e); topics.len()],
        }
    }

    /// Adds partitions to topics, each on its own.
    pub async fn create_partitions(
        &self,
        requests: &[NewPartitions],
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let call = || Call::CreatePartitions {
            requests: requests.to_vec(),
            validate_only,
        };
        match self.route(call).await {
            Routed::Here => self.create_partitions_here(requests, validate_only).await,
            Routed::There(Ok(CallReply::Done(results))) => results,
            Routed::There(Ok(other)) => vec![Err(unexpected(&other)); requests.len()],
            Routed::There(Err(e)) => vec![Err(e); requests.len()],
        }
    }

    /// Reserves the next block of producer ids for this broker: `(first, end)`.
    pub async fn allocate_producer_ids(&self) -> Result<(i64, i64), ApiError> {
        match self.route(|| Call::AllocateProducerIds).await {
            Routed::Here => self.allocate_producer_ids_here().await,
            Routed::There(Ok(CallReply::ProducerIds(result))) => result,
            Routed::There(Ok(other)) => Err(unexpected(&other)),
            Routed::There(Err(e)) => Err(e),
        }
    }

    /// Makes the preferred replica the leader of each partition where it can be.
    pub async fn elect_preferred_leaders(
        &self,
        partitions: &[(String, i32)],
    ) -> Vec<Result<(), ApiError>> {
        match self
            .route(|| Call::ElectPreferredLeaders(partitions.to_vec()))
            .await
        {
            Routed::Here => self.elect_preferred_leaders_here(partitions).await,
            Routed::There(Ok(CallReply::Done(results))) => results,
            Routed::There(Ok(other)) => vec![Err(unexpected(&other)); partitions.len()],
            Routed::There(Err(e)) => vec![Err(e); partitions.len()],
        }
    }

    /// Removes a broker's registration (UnregisterBroker): it is shown no more and leads nothing.
    pub async fn unregister_broker(&self, broker: i32) -> Result<(), ApiError> {
        match self.route(|| Call::UnregisterBroker(broker)).await {
            Routed::Here => self.unregister_broker_here(broker).await,
            Routed::There(Ok(CallReply::Done(mut results))) if results.len() == 1 => {
                results.remove(0)
            }
            Routed::There(Ok(other)) => Err(unexpected(&other)),
            Routed::There(Err(e)) => Err(e),
        }
    }

    /// The metadata quorum as its leader sees it (DescribeQuorum).
    pub async fn describe_quorum(&self) -> Result<QuorumStatus, ApiError> {
        match self.route(|| Call::DescribeQuorum).await {
            Routed::Here => Ok(self.quorum.status()),
            Routed::There(Ok(CallReply::Quorum(status))) => Ok(status),
            Routed::There(Ok(other)) => Err(unexpected(&other)),
            Routed::There(Err(e)) => Err(e),
        }
    }

    /// Runs a call forwarded by another broker, if this node is the active controller.
    pub async fn serve_call(&self, call: Call) -> Reply<CallReply> {
        if !self.quorum.is_leader() {
            return Reply::NotController {
                leader: self.quorum.leader(),
            };
        }
        Reply::Done(match call {
            Call::CreateTopics {
                topics,
                validate_only,
            } => CallReply::Topics(
                self.create_topics_here(&topics, validate_only)
                    .await
                    .into_iter()
                    .map(|r| r.map(|t| TopicInfo::clone(&t)))
                    .collect(),
            ),
            Call::CreateTopicIfMissing(topic) => CallReply::Topic(
                self.create_topic_if_missing_here(topic)
                    .await
                    .map(|t| TopicInfo::clone(&t)),
            ),
            Call::DeleteTopics(topics) => {
                CallReply::Deleted(self.delete_topics_here(&topics).await)
            }
            Call::CreatePartitions {
                requests,
                validate_only,
            } => CallReply::Done(self.create_partitions_here(&requests, validate_only).await),
            Call::AllocateProducerIds => {
                CallReply::ProducerIds(self.allocate_producer_ids_here().await)
            }
            Call::ElectPreferredLeaders(partitions) => {
                CallReply::Done(self.elect_preferred_leaders_here(&partitions).await)
            }
            Call::UnregisterBroker(broker) => {
                CallReply::Done(vec![self.unregister_broker_here(broker).await])
            }
            Call::DescribeQuorum => CallReply::Quorum(self.quorum.status()),
        })
    }
}
