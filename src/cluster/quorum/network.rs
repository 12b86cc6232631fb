//! How quorum members talk: openraft's three requests (vote, append entries, install snapshot)
//! travel over the controller listener in Kafka's framing (size, request header v1 with an API key
//! from a private range, body), with JSON bodies. A request names the node it is meant for, so a
//! member reached at the wrong address (a misconfigured voter list) refuses it instead of
//! replicating to itself. Responses carry openraft's whole `Result`, so remote errors come back as
//! remote errors.
//!
//! [`Network`] is the client side: one connection per peer, made when first needed, dropped on any
//! error (the next request reconnects). Failing to connect is `Unreachable` (openraft backs off), a
//! broken connection is a `NetworkError` (retried), and every request runs within openraft's
//! deadline for it.

use std::time::Duration;

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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::types::{NodeId, QuorumNode, Raft};

/// API keys of the quorum's requests: a private range, served only on controller listeners.
pub const VOTE: i16 = 32_000;
pub const APPEND_ENTRIES: i16 = 32_001;
pub const INSTALL_SNAPSHOT: i16 = 32_002;

/// Whether `api_key` is one of the quorum's requests.
pub fn is_quorum_request(api_key: i16) -> bool {
    (VOTE..=INSTALL_SNAPSHOT).contains(&api_key)
}

/// The largest response a member accepts (snapshots travel in chunks well below it).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
const CLIENT_ID: &str = "kafe-quorum";

/// A request's body: who sends it, who it is for, and openraft's message.
#[derive(Debug, serde::Deserialize, Serialize)]
pub struct Envelope<T> {
    pub from: NodeId,
    pub to: NodeId,
    pub message: T,
}

/// One request frame: size, header v1 (`api_key`, version 0, `correlation_id`, client id), body.
pub fn request_frame(api_key: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + 10 + CLIENT_ID.len() + body.len());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    frame.extend_from_slice(CLIENT_ID.as_bytes());
    frame.extend_from_slice(body);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

/// Builds openraft's clients.
#[derive(Debug, Clone)]
pub struct Network {
    pub local: NodeId,
}

impl RaftNetworkFactory<Raft> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &QuorumNode) -> Peer {
        Peer {
            local: self.local,
            target,
            node: node.clone(),
            connection: None,
            next_correlation_id: 1,
        }
    }
}

/// The connection to one peer.
pub struct Peer {
    local: NodeId,
    target: NodeId,
    node: QuorumNode,
    connection: Option<TcpStream>,
    next_correlation_id: i32,
}

/// What can go wrong on the way (before openraft's own errors).
enum Failure {
    Unreachable(std::io::Error),
    Network(std::io::Error),
}

impl Peer {
    async fn connect(&mut self, within: Duration) -> Result<&mut TcpStream, Failure> {
        if self.connection.is_none() {
            let address = format!("{}:{}", self.node.host, self.node.port);
            let stream = tokio::time::timeout(within, TcpStream::connect(&address))
                .await
                .map_err(|_| {
                    Failure::Unreachable(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting to {address} timed out"),
                    ))
                })?
                .map_err(Failure::Unreachable)?;
            let _ = stream.set_nodelay(true);
            self.connection = Some(stream);
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }

    /// Sends `message` as `api_key` and decodes the peer's `Result`.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        api_key: i16,
        message: Req,
        within: Duration,
    ) -> Result<Resp, Failure> {
        let body = serde_json::to_vec(&Envelope {
            from: self.local,
            to: self.target,
            message,
        })
        .map_err(|e| Failure::Network(std::io::Error::other(e)))?;
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = request_frame(api_key, correlation_id, &body);
        let exchange = async {
            let stream = self.connect(within).await?;
            stream.write_all(&frame).await.map_err(Failure::Network)?;
            let mut size = [0u8; 4];
            stream
                .read_exact(&mut size)
                .await
                .map_err(Failure::Network)?;
            let size = i32::from_be_bytes(size);
            let size = usize::try_from(size)
                .ok()
                .filter(|s| (4..=MAX_RESPONSE_BYTES).contains(s))
                .ok_or_else(|| {
                    Failure::Network(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("response size {size}"),
                    ))
                })?;
            let mut response = vec![0u8; size];
            stream
                .read_exact(&mut response)
                .await
                .map_err(Failure::Network)?;
            if response[..4] != correlation_id.to_be_bytes() {
                return Err(Failure::Network(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "response to another request",
                )));
            }
            serde_json::from_slice(&response[4..]).map_err(|e| {
                Failure::Network(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })
        };
        let result = match tokio::time::timeout(within, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Network(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from node {} within {within:?}", self.target),
            ))),
        };
        if result.is_err() {
            // The stream may hold half a response: start over.
            self.connection = None;
        }
        result
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
            Err(Failure::Unreachable(e)) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(Failure::Network(e)) => Err(RPCError::Network(NetworkError::new(&e))),
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
