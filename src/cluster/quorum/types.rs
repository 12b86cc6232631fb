//! The types openraft is instantiated with: node ids and addresses, the command the metadata log
//! carries (a batch of metadata records with its format version), and the shorthands for
//! openraft's generic types.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::cluster::MetadataRecord;

/// The format of metadata batches this build writes: bumped whenever a record kind is added or
/// changed. A newer kafe reads older formats, so a cluster can roll through an upgrade node by node;
/// an older one refuses a newer batch whole, saying so, and stops rather than misread it.
pub const FORMAT_VERSION: u16 = 1;

/// A quorum member's address: the host and port of its controller listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumNode {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for QuorumNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What one entry of the metadata log carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    pub format: u16,
    pub records: Vec<MetadataRecord>,
}

impl MetadataBatch {
    pub fn new(records: Vec<MetadataRecord>) -> MetadataBatch {
        MetadataBatch {
            format: FORMAT_VERSION,
            records,
        }
    }
}

openraft::declare_raft_types!(
    /// openraft's configuration for the metadata quorum.
    pub Raft:
        D = MetadataBatch,
        R = (),
        NodeId = u64,
        Node = QuorumNode,
        Entry = openraft::Entry<Raft>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type Entry = openraft::Entry<Raft>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, QuorumNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, QuorumNode>;
pub type Snapshot = openraft::Snapshot<Raft>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type RaftHandle = openraft::Raft<Raft>;

/// A Kafka node id as a quorum node id.
pub fn node_id(id: i32) -> NodeId {
    u64::try_from(id).expect("node ids are checked to be 0 or more")
}
