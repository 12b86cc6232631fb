//! The requests brokers make of the active controller over the controller listener, and the
//! client that finds the active controller among the voters. Bodies are JSON; every reply says
//! either what the controller did or that the node asked is not the active controller (with the
//! leader it knows of), in which case the client asks that one, or the next voter.
//!
//! - [`REGISTER_BROKER`]: a broker process announces itself (a new epoch each start).
//! - [`BROKER_HEARTBEAT`]: it keeps its registration alive, learns whether it is fenced, and asks
//!   to shut down (the controller first moves its leaderships away).
//! - [`CONTROLLER_CALL`]: a metadata change a client asked a broker for, forwarded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::debug;
use uuid::Uuid;

use super::controller::{ApiError, NewPartitions, NewTopic, TopicRef};
use super::image::TopicInfo;
use super::link::{Link, LinkError};
use super::quorum::QuorumStatus;
use super::quorum::types::QuorumNode;
use crate::config::Voter;

pub const REGISTER_BROKER: i16 = 32_010;
pub const BROKER_HEARTBEAT: i16 = 32_011;
pub const CONTROLLER_CALL: i16 = 32_012;

/// Whether `api_key` is one of the requests made of the controller.
pub fn is_controller_request(api_key: i16) -> bool {
    matches!(
        api_key,
        REGISTER_BROKER | BROKER_HEARTBEAT | CONTROLLER_CALL
    )
}

/// A broker process announcing itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub broker_id: i32,
    /// New each time the process starts.
    pub incarnation: Uuid,
    /// The cluster the broker's directories belong to (empty before they are formatted).
    pub cluster_id: String,
    /// Where clients reach it (its advertised listener).
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// A broker that is not a voter: where the quorum reaches it, to add it as a learner.
    #[serde(default)]
    pub learner_address: Option<QuorumNode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub broker_id: i32,
    pub epoch: i64,
    /// The index of the last metadata entry the broker has applied.
    pub applied_index: Option<u64>,
    pub want_shutdown: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub fenced: bool,
    /// The broker leads nothing any more and may stop.
    pub should_shut_down: bool,
}

/// A metadata change forwarded by a broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Call {
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    CreateTopicIfMissing(NewTopic),
    DeleteTopics(Vec<TopicRef>),
    CreatePartitions {
        requests: Vec<NewPartitions>,
        validate_only: bool,
    },
    AllocateProducerIds,
    ElectPreferredLeaders(Vec<(String, i32)>),
    UnregisterBroker(i32),
    DescribeQuorum,
}

/// What the controller answered to a [`Call`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CallReply {
    Topics(Vec<Result<TopicInfo, ApiError>>),
    Topic(Result<TopicInfo, ApiError>),
    Deleted(Vec<Result<(String, Uuid), ApiError>>),
    Done(Vec<Result<(), ApiError>>),
    ProducerIds(Result<(i64, i64), ApiError>),
    Quorum(QuorumStatus),
}

/// Every reply from a controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply<T> {
    Done(T),
    /// Refused: `code` and `message` are Kafka's.
    Refused(ApiError),
    /// This node is not the active controller; the one it knows of, if any.
    NotController {
        leader: Option<i32>,
    },
}

/// Why a request to the controller failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// The controller refused it.
    Refused(ApiError),
    /// No active controller answered in time.
    NoController(String),
}

/// Who this node believes leads the quorum (its own quorum member's view), if it knows.
pub type LeaderHint = Arc<dyn Fn() -> Option<i32> + Send + Sync>;

/// Finds the active controller among the voters and asks it.
pub struct ControllerClient {
    voters: Vec<Voter>,
    /// The local quorum member's view of the leader: the first place to ask.
    hint: LeaderHint,
    /// The voter that answered last, or that another voter named as leader.
    leader: parking_lot::Mutex<Option<i32>>,
    /// Where the round of the voters goes on from, across calls, so that a dead voter is not
    /// asked first every time.
    next_voter: std::sync::atomic::AtomicUsize,
    links: HashMap<i32, Arc<tokio::sync::Mutex<Link>>>,
    request_timeout: Duration,
}

impl ControllerClient {
    pub fn new(
        voters: Vec<Voter>,
        request_timeout: Duration,
        hint: LeaderHint,
    ) -> ControllerClient {
        let links = voters
            .iter()
            .map(|v| {
                (
                    v.id,
                    Arc::new(tokio::sync::Mutex::new(Link::new(&v.host, v.port))),
                )
            })
            .collect();
        ControllerClient {
            voters,
            hint,
            leader: parking_lot::Mutex::new(None),
            next_voter: std::sync::atomic::AtomicUsize::new(0),
            links,
            request_timeout,
        }
    }

    /// The next voter to ask: the one named leader (by the local quorum member first, then by
    /// the last answer) unless it has just failed, else the next in the round.
    fn pick(&self, failed: &[i32]) -> i32 {
        if let Some(leader) =
            (self.hint)().filter(|l| self.links.contains_key(l) && !failed.contains(l))
        {
            return leader;
        }
        if let Some(leader) = self.leader.lock().take().filter(|l| !failed.contains(l)) {
            return leader;
        }
        let next = self
            .next_voter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.voters[next % self.voters.len()].id
    }

    /// Sends `request` as `api_key` to the active controller, trying the voters in turn until
    /// `within` has passed.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        api_key: i16,
        request: &Req,
        within: Duration,
    ) -> Result<Resp, RpcError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| RpcError::NoController(format!("cannot encode the request: {e}")))?;
        let deadline = tokio::time::Instant::now() + within;
        let mut failed: Vec<i32> = Vec::new();
        let mut attempts = 0usize;
        let mut last_problem = String::from("no voter answered");
        loop {
            let target = self.pick(&failed);
            attempts += 1;
            let Some(link) = self.links.get(&target) else {
                continue;
            };
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Err(RpcError::NoController(last_problem));
            }
            let answer = {
                let mut link = link.lock().await;
                link.exchange(api_key, &body, remaining.min(self.request_timeout))
                    .await
            };
            match answer.map(|bytes| serde_json::from_slice::<Reply<Resp>>(&bytes)) {
                Ok(Ok(Reply::Done(value))) => {
                    *self.leader.lock() = Some(target);
                    return Ok(value);
                }
                Ok(Ok(Reply::Refused(e))) => {
                    *self.leader.lock() = Some(target);
                    return Err(RpcError::Refused(e));
                }
                Ok(Ok(Reply::NotController { leader })) => {
                    last_problem = format!("node {target} is not the active controller");
                    failed.push(target);
                    if let Some(leader) = leader.filter(|l| *l != target) {
                        *self.leader.lock() = Some(leader);
                        continue;
                    }
                }
                Ok(Err(e)) => {
                    last_problem = format!("node {target} answered garbage: {e}");
                    failed.push(target);
                }
                Err(LinkError::Unreachable(e) | LinkError::Broken(e)) => {
                    debug!(node = target, error = %e, "controller request failed");
                    last_problem = format!("node {target}: {e}");
                    failed.push(target);
                }
            }
            // Every voter asked once without an answer: an election may be under way.
            if attempts % self.voters.len() == 0 {
                failed.clear();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
