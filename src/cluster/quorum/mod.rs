//! The metadata quorum: the metadata log replicated by openraft over the voters of
//! `controller.quorum.voters` (a single node is a quorum of one voter). This module is the thin
//! layer kafe keeps in front of openraft: the rest of the broker sees [`Quorum`] (append records,
//! follow the applied image, the leader, the quorum's state), never openraft's types.
//!
//! - [`types`]: what openraft is instantiated with.
//! - [`log_store`]: the Raft log on kafe's segment log (`__cluster_metadata-0`), fsynced before
//!   openraft hears an append is done, and the durable vote.
//! - [`state_machine`]: the metadata image, snapshots as `<index>-<term>.checkpoint` files.
//! - [`network`]: requests between members over the controller listener.
//!
//! Forming a quorum needs no format step: the voter with the lowest id initializes it with the
//! configured voters, unless some voter reports it has already formed one (so a member whose disk
//! was replaced is not mistaken for a new cluster). Every voter elects from then on.

pub mod legacy;
pub mod log_store;
pub mod network;
pub mod state_machine;
pub mod types;

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::cluster::{MetadataImage, MetadataRecord};
use crate::config::Voter;
use crate::log::Log;
use network::{Answer, Envelope, Identity};
pub use state_machine::Applied;
use types::{MetadataBatch, NodeId, QuorumNode, RaftHandle};

/// The internal topic holding the metadata log.
pub use crate::log::manager::METADATA_TOPIC;

/// The log configuration of the metadata log: never deleted by retention (snapshots and purges
/// bound it instead).
pub fn metadata_log_config() -> crate::log::LogConfig {
    crate::log::LogConfig {
        segment_bytes: 64 * 1024 * 1024,
        retention_ms: -1,
        retention_bytes: -1,
        segment_index_bytes: 1024 * 1024,
        ..crate::config::topic::default_log_config()
    }
}

/// Why an append did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    #[error("this node is not the quorum leader (the leader is {leader:?})")]
    NotLeader { leader: Option<i32> },
    #[error("the metadata quorum failed: {0}")]
    Failed(String),
    #[error("no majority of the voters confirmed the change within {0:?}")]
    TimedOut(Duration),
}

/// How a quorum runs.
#[derive(Debug, Clone)]
pub struct QuorumSettings {
    pub node_id: i32,
    /// Every voter, this node included.
    pub voters: Vec<Voter>,
    pub election_timeout_ms: u64,
    pub request_timeout_ms: u64,
}

/// The state of the quorum as DescribeQuorum shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct QuorumStatus {
    pub leader: Option<i32>,
    pub term: u64,
    /// The index of the last committed entry.
    pub high_watermark: Option<u64>,
    /// Every voter and the index it has matched (known on the leader only).
    pub voters: Vec<(i32, Option<u64>)>,
    pub last_log_index: Option<u64>,
}

pub struct Quorum {
    raft: RaftHandle,
    identity: Arc<Identity>,
    local: NodeId,
    voters: BTreeMap<NodeId, QuorumNode>,
    applied: watch::Receiver<Applied>,
}

impl Quorum {
    /// Starts this node's member of the quorum over `log`, whose state machine starts from `base`
    /// (the cluster id and what configuration says before any record).
    pub async fn start(
        settings: &QuorumSettings,
        log: Arc<Log>,
        base: MetadataImage,
        release_space: log_store::ReleaseSpace,
        cluster_id: Option<String>,
    ) -> io::Result<Arc<Quorum>> {
        let identity = Arc::new(Identity::new(cluster_id, settings.voters.len()));
        let local = types::node_id(settings.node_id);
        let voters: BTreeMap<NodeId, QuorumNode> = settings
            .voters
            .iter()
            .map(|v| {
                (
                    types::node_id(v.id),
                    QuorumNode {
                        host: v.host.clone(),
                        port: v.port,
                    },
                )
            })
            .collect();
        let election = settings.election_timeout_ms.max(200);
        // openraft waits out a leader lease of `election_timeout_max`, then a random time between
        // min and max, before standing: with max = the configured timeout and min = half of it, a
        // follower stands 1.5 to 2 timeouts after the leader's last word, about what Kafka's
        // fetch timeout (2 x the election timeout) gives. A heartbeat well inside that; openraft
        // also uses it as the deadline of an append (fsync included) on the follower.
        let heartbeat = (election / 4).max(50);
        let config = openraft::Config {
            cluster_name: "kafe-metadata".to_string(),
            heartbeat_interval: heartbeat,
            election_timeout_min: election / 2,
            election_timeout_max: election,
            install_snapshot_timeout: settings.request_timeout_ms.max(election),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(20_000),
            max_in_snapshot_log_to_keep: 1_000,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| io::Error::other(format!("quorum configuration: {e}")))?;
        let log_dir = Arc::clone(log.log_dir());
        let dir = log.dir().to_path_buf();
        let log_for_store = Arc::clone(&log);
        let (store, state_machine) = tokio::task::spawn_blocking(move || {
            let store = log_store::LogStore::open(log_for_store, release_space)?;
            let state_machine = state_machine::StateMachine::open(&dir, log_dir, base)?;
            Ok::<_, io::Error>((store, state_machine))
        })
        .await
        .map_err(io::Error::other)??;
        let applied = state_machine.subscribe();
        let raft = openraft::Raft::new(
            local,
            Arc::new(config),
            network::Network {
                local,
                identity: Arc::clone(&identity),
                addresses: Arc::new(voters.clone()),
            },
            store,
            state_machine,
        )
        .await
        .map_err(|e| io::Error::other(format!("cannot start the metadata quorum: {e}")))?;
        let stored: Vec<NodeId> = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        let configured: Vec<NodeId> = voters.keys().copied().collect();
        if !stored.is_empty() && stored != configured {
            let _ = raft.shutdown().await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the metadata log was written by a quorum of voters {stored:?}, but \
                     controller.quorum.voters names {configured:?}; the voters of a quorum cannot \
                     be changed by editing the configuration"
                ),
            ));
        }
        let quorum = Arc::new(Quorum {
            raft,
            identity,
            local,
            voters,
            applied,
        });
        quorum.form().await?;
        tokio::spawn(Arc::clone(&quorum).watch_elections(Duration::from_millis(election)));
        tokio::spawn(Arc::clone(&quorum).report_leaders());
        Ok(quorum)
    }

    /// Initializes the quorum if this node is the lowest-id voter, none of it exists yet here,
    /// and no other voter has one.
    async fn form(&self) -> io::Result<()> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        if initialized || self.voters.keys().next() != Some(&self.local) {
            if self.voters.len() == 1 {
                let _ = self.raft.trigger().elect().await;
            }
            return Ok(());
        }
        match self.raft.initialize(self.voters.clone()).await {
            Ok(()) => {
                info!(voters = ?self.voters.keys().collect::<Vec<_>>(), "formed the metadata quorum");
                Ok(())
            }
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(io::Error::other(format!(
                "cannot form the metadata quorum: {e}"
            ))),
        }
    }

    /// Logs every change of quorum leader, as operators need to see them.
    async fn report_leaders(self: Arc<Self>) {
        let mut metrics = self.raft.metrics();
        let mut last: Option<(Option<NodeId>, u64)> = None;
        loop {
            let (leader, term, failed) = {
                let m = metrics.borrow_and_update();
                (
                    m.current_leader,
                    m.current_term,
                    m.running_state.clone().err(),
                )
            };
            if let Some(e) = failed {
                tracing::error!(error = %e, "the metadata quorum stopped");
                return;
            }
            if last.map(|(l, _)| l) != Some(leader) {
                match leader {
                    Some(id) if id == self.local => {
                        info!(term, "this node leads the metadata quorum")
                    }
                    Some(id) => info!(leader = id, term, "the metadata quorum has a leader"),
                    None if last.is_some() => warn!(term, "the metadata quorum has no leader"),
                    None => {}
                }
                last = Some((leader, term));
            }
            if metrics.changed().await.is_err() {
                return;
            }
        }
    }

    /// openraft 0.9 can split votes between two candidates indefinitely (its randomized timeout
    /// is drawn once): when no leader has been seen for a few election timeouts, stand for
    /// election after a random delay.
    async fn watch_elections(self: Arc<Self>, election: Duration) {
        let mut leaderless_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(election).await;
            let metrics = self.raft.metrics().borrow().clone();
            if metrics.running_state.is_err() {
                return;
            }
            let is_voter = metrics
                .membership_config
                .membership()
                .voter_ids()
                .any(|id| id == self.local);
            if metrics.current_leader.is_some() || !is_voter {
                leaderless_since = None;
                continue;
            }
            let since = *leaderless_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= election * 3 {
                let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u16)
                    % election.as_millis().max(1) as u64;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                warn!(
                    term = metrics.current_term,
                    "no quorum leader for a while; standing for election"
                );
                let _ = self.raft.trigger().elect().await;
                leaderless_since = None;
            }
        }
    }

    /// Whether a majority of the voters confirms, within `within`, that this node still leads:
    /// a leader cut off from the others believes it leads until an election it cannot hear of.
    pub async fn confirm_leadership(&self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.raft.ensure_linearizable()).await,
            Ok(Ok(_))
        )
    }

    /// Makes broker `id` a learner of the quorum, reached at `address` (a broker that is not a
    /// voter receives the metadata log this way); nothing to do if it already is one there.
    pub async fn add_learner(
        &self,
        id: i32,
        address: QuorumNode,
        within: Duration,
    ) -> Result<(), QuorumError> {
        let node = types::node_id(id);
        if self.voters.contains_key(&node) {
            return Ok(());
        }
        let known = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            membership.learner_ids().any(|l| l == node)
                && membership.get_node(&node) == Some(&address)
        };
        if known {
            return Ok(());
        }
        match tokio::time::timeout(within, self.raft.add_learner(node, address, false)).await {
            Ok(Ok(_)) => {
                info!(
                    broker = id,
                    "added a broker to the metadata quorum as a learner"
                );
                Ok(())
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                Err(QuorumError::NotLeader {
                    leader: forward.leader_id.and_then(|id| i32::try_from(id).ok()),
                })
            }
            Ok(Err(e)) => Err(QuorumError::Failed(e.to_string())),
            Err(_) => Err(QuorumError::TimedOut(within)),
        }
    }

    /// Removes broker `id` from the quorum's learners, if it is one.
    pub async fn remove_learner(&self, id: i32, within: Duration) -> Result<(), QuorumError> {
        let node = types::node_id(id);
        let is_learner = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            m.membership_config
                .membership()
                .learner_ids()
                .any(|l| l == node)
        };
        if !is_learner {
            return Ok(());
        }
        let change = openraft::ChangeMembers::RemoveNodes(std::collections::BTreeSet::from([node]));
        match tokio::time::timeout(within, self.raft.change_membership(change, false)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(QuorumError::Failed(e.to_string())),
            Err(_) => Err(QuorumError::TimedOut(within)),
        }
    }

    /// Appends `records` as one entry; returns its index once it is committed and applied here.
    /// A leader that cannot reach a majority gives up after `within` (the entry is then left to
    /// the next leader, which keeps or discards it).
    pub async fn append_within(
        &self,
        records: Vec<MetadataRecord>,
        within: Duration,
    ) -> Result<u64, QuorumError> {
        match tokio::time::timeout(within, self.append(records)).await {
            Ok(result) => result,
            Err(_) => Err(QuorumError::TimedOut(within)),
        }
    }

    /// Appends `records` as one entry; returns its index once it is committed and applied here.
    pub async fn append(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        match self.raft.client_write(MetadataBatch::new(records)).await {
            Ok(response) => Ok(response.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(QuorumError::NotLeader {
                    leader: forward.leader_id.and_then(|id| i32::try_from(id).ok()),
                })
            }
            Err(e) => Err(QuorumError::Failed(e.to_string())),
        }
    }

    /// Waits until this node knows a leader and has applied an entry of the leader's term (and so
    /// everything committed before that term began) or, on the leader, everything in its log;
    /// returns what is applied.
    pub async fn caught_up(&self, timeout: Duration) -> Result<Applied, QuorumError> {
        let mut metrics = self.raft.metrics();
        let mut applied = self.applied.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut marked = false;
        loop {
            let (leader, term, last_log) = {
                let m = metrics.borrow_and_update();
                (m.current_leader, m.current_term, m.last_log_index)
            };
            let now = applied.borrow_and_update().clone();
            // A follower is caught up once it has applied the leader's first entry of its term;
            // the leader, whose changes are checked against what it has applied, once it has
            // applied everything in its log.
            let caught_up = if leader == Some(self.local) {
                now.term == Some(term) && now.index >= last_log
            } else {
                leader.is_some() && now.term == Some(term)
            };
            if caught_up {
                return Ok(now);
            }
            if leader == Some(self.local) && !marked {
                // A leader restored at start-up keeps its term without appending an entry of it;
                // an empty batch marks the term, and committing it commits everything before.
                marked = true;
                let _ = tokio::time::timeout_at(deadline, self.append(Vec::new())).await;
                continue;
            }
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() {
                    return Err(QuorumError::Failed("the quorum has stopped".into()));
                },
                changed = applied.changed() => if changed.is_err() {
                    return Err(QuorumError::Failed("the quorum has stopped".into()));
                },
                () = tokio::time::sleep_until(deadline) => {
                    return Err(QuorumError::Failed(format!(
                        "no leader caught up with within {} ms (leader {leader:?}, term {term})",
                        timeout.as_millis()
                    )));
                }
            }
        }
    }

    /// Why the quorum has stopped on its own, if it has.
    pub fn stopped_now(&self) -> Option<String> {
        let metrics = self.raft.metrics();
        let state = metrics.borrow();
        state.running_state.as_ref().err().map(|e| e.to_string())
    }

    /// Resolves when the quorum stops on its own (a storage failure), with the reason; `None` when
    /// it was shut down.
    pub async fn stopped(&self) -> Option<String> {
        let mut metrics = self.raft.metrics();
        loop {
            if let Err(e) = &metrics.borrow_and_update().running_state {
                return Some(e.to_string());
            }
            metrics.changed().await.ok()?;
        }
    }

    /// The cluster this member belongs to, once agreed (see [`crate::cluster::formation`]).
    pub fn set_cluster_id(&self, cluster_id: &str) {
        self.identity.set_cluster(cluster_id);
    }

    /// Why this member cannot take part (a peer said it is another cluster's), as it happens.
    pub fn contradiction(&self) -> watch::Receiver<Option<String>> {
        self.identity.contradiction()
    }

    /// The quorum leader this node knows of.
    pub fn leader(&self) -> Option<i32> {
        let leader = self.raft.metrics().borrow().current_leader;
        leader.and_then(|id| i32::try_from(id).ok())
    }

    /// Whether this node leads the quorum (by its own view; writes still need a majority).
    pub fn is_leader(&self) -> bool {
        self.leader() == i32::try_from(self.local).ok()
    }

    /// The image as applied here, and each new one as it is applied.
    pub fn applied(&self) -> watch::Receiver<Applied> {
        self.applied.clone()
    }

    /// The quorum's state, for DescribeQuorum.
    pub fn status(&self) -> QuorumStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let matched = metrics.replication.clone().unwrap_or_default();
        QuorumStatus {
            leader: metrics.current_leader.and_then(|id| i32::try_from(id).ok()),
            term: metrics.current_term,
            high_watermark: metrics.last_applied.map(|l| l.index),
            voters: self
                .voters
                .keys()
                .map(|id| {
                    let index = if *id == self.local {
                        metrics.last_log_index
                    } else {
                        matched.get(id).copied().flatten().map(|l| l.index)
                    };
                    (*id as i32, index)
                })
                .collect(),
            last_log_index: metrics.last_log_index,
        }
    }

    /// Serves a request from another member (`api_key` from [`network`]); returns the response
    /// body. Requests meant for another node are refused.
    pub async fn serve(&self, api_key: i16, body: &[u8]) -> io::Result<Vec<u8>> {
        fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> io::Result<Envelope<T>> {
            serde_json::from_slice(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        }
        fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
            serde_json::to_vec(value).map_err(io::Error::other)
        }
        let refuse_stranger = |cluster: Option<&str>,
                               from: NodeId|
         -> Option<io::Result<Vec<u8>>> {
            if self.identity.admits(cluster) {
                return None;
            }
            warn!(node = from, cluster = ?cluster, "refusing a quorum request from a member of another cluster");
            Some(encode(&Answer::<()>::WrongCluster {
                cluster: self.identity.cluster().unwrap_or_default(),
            }))
        };
        let check = |to: NodeId, from: NodeId| {
            if to == self.local {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "node {from} sent a quorum request for node {to} to node {}: check controller.quorum.voters",
                        self.local
                    ),
                ))
            }
        };
        match api_key {
            network::VOTE => {
                let request: Envelope<VoteRequest<NodeId>> = decode(body)?;
                check(request.to, request.from)?;
                if let Some(refusal) = refuse_stranger(request.cluster.as_deref(), request.from) {
                    return refusal;
                }
                encode(&Answer::Answered(self.raft.vote(request.message).await))
            }
            network::APPEND_ENTRIES => {
                let request: Envelope<AppendEntriesRequest<types::Raft>> = decode(body)?;
                check(request.to, request.from)?;
                if let Some(refusal) = refuse_stranger(request.cluster.as_deref(), request.from) {
                    return refusal;
                }
                encode(&Answer::Answered(
                    self.raft.append_entries(request.message).await,
                ))
            }
            network::INSTALL_SNAPSHOT => {
                let request: Envelope<InstallSnapshotRequest<types::Raft>> = decode(body)?;
                check(request.to, request.from)?;
                if let Some(refusal) = refuse_stranger(request.cluster.as_deref(), request.from) {
                    return refusal;
                }
                encode(&Answer::Answered(
                    self.raft.install_snapshot(request.message).await,
                ))
            }
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{other} is not a quorum request"),
            )),
        }
    }

    /// Stops this member.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            warn!(error = %e, "the metadata quorum did not stop cleanly");
        }
    }
}

#[cfg(test)]
mod tests;
