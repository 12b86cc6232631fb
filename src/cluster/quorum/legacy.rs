//! Metadata logs written before the quorum existed: plain JSON records in `__cluster_metadata-0`,
//! no Raft framing. A single node starting on such a directory converts it once: the image the old
//! records build becomes the quorum's first snapshot (at the old log's last offset, with this node
//! as the only voter), the vote and purge point are recorded, and the log starts over after it.
//! Each step is durable before the next; a crash in between repeats the conversion, which reads the
//! old records again, so nothing is lost either way.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;

use openraft::{CommittedLeaderId, Membership};
use tracing::info;

use super::log_store::{ENTRY_KEY, QuorumState, write_quorum_state};
use super::state_machine::write_snapshot;
use super::types::{LogId, NodeId, QuorumNode, SnapshotMeta, StoredMembership, Vote};
use crate::cluster::{MetadataImage, MetadataRecord};
use crate::log::Log;

/// Converts `log` if it holds pre-quorum records; returns whether it did.
pub fn migrate(log: &Arc<Log>, node: NodeId, address: QuorumNode) -> io::Result<bool> {
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    if end <= start {
        return Ok(false);
    }
    let mut first_key: Option<Option<Vec<u8>>> = None;
    let mut image = MetadataImage::default();
    let mut last = start;
    let visited = log.for_each_record(|record| {
        if first_key.is_none() {
            first_key = Some(record.key.clone());
        }
        if first_key
            .as_ref()
            .is_some_and(|k| k.as_deref() == Some(ENTRY_KEY))
        {
            return Ok(());
        }
        let parsed = MetadataRecord::decode(&record.value.unwrap_or_default()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("metadata record at offset {}: {e}", record.offset),
            )
        })?;
        image.apply(&parsed);
        last = record.offset;
        Ok(())
    })?;
    if first_key.flatten().as_deref() == Some(ENTRY_KEY) {
        return Ok(false);
    }
    let index = u64::try_from(last).map_err(io::Error::other)?;
    let log_id = LogId {
        leader_id: CommittedLeaderId::new(0, node),
        index,
    };
    let membership = Membership::new(
        vec![BTreeSet::from([node])],
        BTreeMap::from([(node, address)]),
    );
    let meta = SnapshotMeta {
        last_log_id: Some(log_id),
        last_membership: StoredMembership::new(Some(log_id), membership),
        snapshot_id: format!("{index}-migrated"),
    };
    let dir = log.dir().to_path_buf();
    write_snapshot(log.log_dir(), &dir, meta, image.to_records())?;
    write_quorum_state(
        log.log_dir().ops(),
        &dir,
        &QuorumState {
            vote: Some(Vote::new_committed(0, node)),
            last_purged: Some(log_id),
        },
    )?;
    log.truncate_fully_and_start_at(last + 1)
        .map_err(|e| io::Error::other(e.to_string()))?;
    info!(
        records = visited,
        topics = image.topics.len(),
        index,
        "converted the metadata log to the quorum's format"
    );
    Ok(true)
}
