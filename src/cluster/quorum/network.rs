//! How quorum members talk: openraft's three requests (vote, append entries, install snapshot)
//! travel over the controller listener in Kafka's framing (size, request header v1 with an API key
//! from a private range, body), with JSON bodies. A request names the node it is meant for, so a
//! member reached at the wrong address (a misconfigured voter list) refuses it instead of
//! replicating to itself. Responses carry openraft's whole `Result`, so remote errors come back as
//! remote errors.
//!
//! [`Network`] is the client side: one [`Link`] per peer. Failing to connect is `Unreachable`
//! (openraft backs off), a broken connection is a `NetworkError` (retried), and every request runs
//! within openraft's deadline for it.

use std::time::Duration;

use super::types::{NodeId, QuorumNode, Raft};
use crate::cluster::link::{Link, LinkError};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// API keys of the quorum's requests: a private range, served only on controller listeners.
pub const VOTE: i16 = 32_000;
pub const APPEND_ENTRIES: i16 = 32_001;
pub const INSTALL_SNAPSHOT: i16 = 32_002;

/// Whether `api_key` is one of the quorum's requests.
pub fn is_quorum_request(api_key: i16) -> bool {
    (VOTE..=INSTALL_SNAPSHOT).contains(&api_key)
}

/// A request's body: who sends it, who it is for, the sender's cluster (if it knows it yet), and
/// openraft's message.
#[derive(Debug, serde::Deserialize, Serialize)]
pub struct Envelope<T> {
    pub from: NodeId,
    pub to: NodeId,
    #[serde(default)]
    pub cluster: Option<String>,
    pub message: T,
}

/// A response's body: openraft's answer, or a refusal because the sender belongs to another
/// cluster.
#[derive(Debug, serde::Deserialize, Serialize)]
pub enum Answer<T> {
    Answered(T),
    WrongCluster { cluster: String },
}

/// Which cluster this member belongs to, as far as it knows, and whether the other voters say
/// it belongs to another one. Shared by the quorum and its clients.
#[derive(Debug)]
pub struct Identity {
    cluster: parking_lot::RwLock<Option<String>>,
    voters: usize,
    /// The peers that refused this member, with the cluster each said it is.
    refusals: parking_lot::Mutex<std::collections::BTreeMap<NodeId, String>>,
    contradicted: tokio::sync::watch::Sender<Option<String>>,
}

impl Identity {
    pub fn new(cluster: Option<String>, voters: usize) -> Identity {
        Identity {
            cluster: parking_lot::RwLock::new(cluster),
            voters,
            refusals: parking_lot::Mutex::new(std::collections::BTreeMap::new()),
            contradicted: tokio::sync::watch::channel(None).0,
        }
    }

    pub fn cluster(&self) -> Option<String> {
        self.cluster.read().clone()
    }

    pub fn set_cluster(&self, cluster: &str) {
        *self.cluster.write() = Some(cluster.to_string());
    }

    /// Whether a request from a member of `cluster` may be served here.
    pub fn admits(&self, cluster: Option<&str>) -> bool {
        match (self.cluster.read().as_deref(), cluster) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        }
    }

    /// Why this member cannot take part, once a majority of the voters, all of one other
    /// cluster, have refused it: it is the one whose data is another cluster's. (A single peer
    /// refusing is that peer's problem, not this member's.)
    pub fn contradiction(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.contradicted.subscribe()
    }

    fn contradict(&self, peer: NodeId, theirs: &str) {
        let agreeing = {
            let mut refusals = self.refusals.lock();
            refusals.insert(peer, theirs.to_string());
            refusals.values().filter(|c| *c == theirs).count()
        };
        if agreeing < self.voters / 2 + 1 {
            return;
        }
        let mine = self.cluster().unwrap_or_default();
        self.contradicted.send_if_modified(|c| {
            let first = c.is_none();
            if first {
                *c = Some(format!(
                    "this node's data belongs to cluster {mine}, but a majority of the voters are \
                     cluster {theirs}: its log directories are another cluster's"
                ));
            }
            first
        });
    }
}

/// Builds openraft's clients.
#[derive(Debug, Clone)]
pub struct Network {
    pub local: NodeId,
    pub identity: std::sync::Arc<Identity>,
    /// The voters' addresses from `controller.quorum.voters`: they win over the addresses the
    /// log's membership recorded, so a voter that moved is reached where it is now, and a node
    /// started on another cluster's data talks to the cluster it is configured for.
    pub addresses: std::sync::Arc<std::collections::BTreeMap<NodeId, QuorumNode>>,
}

impl RaftNetworkFactory<Raft> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &QuorumNode) -> Peer {
        let node = self.addresses.get(&target).unwrap_or(node);
        Peer {
            local: self.local,
            target,
            node: node.clone(),
            link: Link::new(&node.host, node.port),
            identity: std::sync::Arc::clone(&self.identity),
        }
    }
}

/// The connection to one peer.
pub struct Peer {
    local: NodeId,
    target: NodeId,
    node: QuorumNode,
    link: Link,
    identity: std::sync::Arc<Identity>,
}

impl Peer {
    /// Sends `message` as `api_key` and decodes the peer's `Result`.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        api_key: i16,
        message: Req,
        within: Duration,
    ) -> Result<Resp, LinkError> {
        let body = serde_json::to_vec(&Envelope {
            from: self.local,
            to: self.target,
            cluster: self.identity.cluster(),
            message,
        })
        .map_err(|e| LinkError::Broken(std::io::Error::other(e)))?;
        let response = self.link.exchange(api_key, &body, within).await?;
        let answer: Answer<Resp> = serde_json::from_slice(&response).map_err(|e| {
            LinkError::Broken(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;
        match answer {
            Answer::Answered(response) => Ok(response),
            Answer::WrongCluster { cluster } => {
                self.identity.contradict(self.target, &cluster);
                Err(LinkError::Unreachable(std::io::Error::other(format!(
                    "node {} belongs to cluster {cluster}",
                    self.target
                ))))
            }
        }
    }

    /// Maps the outcome of a call to openraft's errors.
    async fn request<Req, Resp, E>(
        &mut self,
        api_key: i16,
        message: Req,
        option: RPCOption,
    ) -> Result<Resp, RPCError<NodeId, QuorumNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        match self
            .call::<Req, Result<Resp, RaftError<NodeId, E>>>(api_key, message, option.hard_ttl())
            .await
        {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                remote,
            ))),
            Err(LinkError::Unreachable(e)) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(LinkError::Broken(e)) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<Raft> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<Raft>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, QuorumNode, RaftError<NodeId>>>
    {
        self.request(APPEND_ENTRIES, rpc, option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<Raft>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, QuorumNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.request(INSTALL_SNAPSHOT, rpc, option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, QuorumNode, RaftError<NodeId>>> {
        self.request(VOTE, rpc, option).await
    }
}
