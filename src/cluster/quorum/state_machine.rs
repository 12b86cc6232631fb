//! openraft's state machine for the metadata quorum: the metadata image. Committed batches are
//! applied to it in log order, and every applied image is announced (with the index it reached) to
//! whoever publishes it to this node's partitions.
//!
//! A snapshot is the image written as the records that rebuild it, so replay stays bounded: it is
//! kept as `<index>-<term>.checkpoint` in the metadata log's directory (Kafka's name for its
//! metadata snapshots; the content is kafe's JSON), written durably before older ones are removed,
//! and read back at start-up, after which openraft replays the committed entries that follow it.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftLogId};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::info;

use super::types::{
    Entry, FORMAT_VERSION, LogId, MetadataBatch, Raft, Snapshot, SnapshotMeta, StorageError,
    StoredMembership,
};
use crate::cluster::{MetadataImage, MetadataRecord};
use crate::log::LogDir;
use crate::log::io::{read_small_file, write_file_atomically};

/// The image as applied up to a quorum index.
#[derive(Debug, Clone)]
pub struct Applied {
    pub image: Arc<MetadataImage>,
    /// The index of the last entry applied (`None` before any).
    pub index: Option<u64>,
    /// The term of the last entry applied: once it is the current term, everything the leader had
    /// committed when its term began is applied here.
    pub term: Option<u64>,
}

impl Applied {
    fn of(state: &State) -> Applied {
        Applied {
            image: Arc::new(state.image.clone()),
            index: state.last_applied.map(|l| l.index),
            term: state.last_applied.map(|l| l.leader_id.term),
        }
    }
}

/// A snapshot file's content.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotFile {
    format: u16,
    meta: SnapshotMeta,
    records: Vec<MetadataRecord>,
}

/// Writes a snapshot of `records` as of `meta` into `dir`, durably (a migrated metadata log).
pub fn write_snapshot(
    log_dir: &LogDir,
    dir: &Path,
    meta: SnapshotMeta,
    records: Vec<MetadataRecord>,
) -> io::Result<()> {
    let name = snapshot_name(&meta);
    let file = SnapshotFile {
        format: FORMAT_VERSION,
        meta,
        records,
    };
    let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
    write_file_atomically(log_dir.ops(), &dir.join(name), &bytes)
}

struct State {
    image: MetadataImage,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The newest snapshot: its metadata and bytes.
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
}

#[derive(Clone)]
pub struct StateMachine {
    dir: PathBuf,
    log_dir: Arc<LogDir>,
    /// What the image starts from before any record (cluster id, brokers known from configuration).
    base: Arc<MetadataImage>,
    state: Arc<Mutex<State>>,
    applied: watch::Sender<Applied>,
}

fn snapshot_name(meta: &SnapshotMeta) -> String {
    let (index, term) = meta
        .last_log_id
        .map_or((0, 0), |l| (l.index, l.leader_id.term));
    format!("{index:020}-{term:010}.checkpoint")
}

fn is_snapshot_name(name: &str) -> bool {
    name.ends_with(".checkpoint") && name.len() == 20 + 1 + 10 + ".checkpoint".len()
}

fn io_error(verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from_io_error(ErrorSubject::StateMachine, verb, e)
}

/// Applies one batch to `image`, refusing a format newer than this build reads.
fn apply_batch(image: &mut MetadataImage, batch: &MetadataBatch) -> Result<(), String> {
    if batch.format > FORMAT_VERSION {
        return Err(format!(
            "a metadata batch of format {} was written by a newer kafe (this one reads up to {FORMAT_VERSION})",
            batch.format
        ));
    }
    if batch.records.contains(&MetadataRecord::Unknown) {
        return Err(format!(
            "a metadata batch of format {} holds a record this kafe does not know",
            batch.format
        ));
    }
    for record in &batch.records {
        image.apply(record);
    }
    Ok(())
}

impl StateMachine {
    /// Opens the state machine in `dir` (the metadata log's directory) from its newest snapshot.
    pub fn open(dir: &Path, log_dir: Arc<LogDir>, base: MetadataImage) -> io::Result<StateMachine> {
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| is_snapshot_name(n))
            .collect();
        names.sort();
        let mut state = State {
            image: base.clone(),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: None,
        };
        if let Some(newest) = names.last() {
            let path = dir.join(newest);
            let bytes = read_small_file(log_dir.ops(), &path, 1 << 30)?.unwrap_or_default();
            let file: SnapshotFile = serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            let batch = MetadataBatch {
                format: file.format,
                records: file.records,
            };
            apply_batch(&mut state.image, &batch).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            let file = SnapshotFile {
                format: batch.format,
                meta: file.meta,
                records: batch.records,
            };
            state.last_applied = file.meta.last_log_id;
            state.membership = file.meta.last_membership.clone();
            info!(file = %path.display(), records = file.records.len(), "loaded the metadata snapshot");
            state.snapshot = Some((file.meta, bytes));
        }
        let applied = Applied::of(&state);
        Ok(StateMachine {
            dir: dir.to_path_buf(),
            log_dir,
            base: Arc::new(base),
            state: Arc::new(Mutex::new(state)),
            applied: watch::channel(applied).0,
        })
    }

    /// Every applied image, newest first, as it is applied.
    pub fn subscribe(&self) -> watch::Receiver<Applied> {
        self.applied.subscribe()
    }

    fn announce(&self, state: &State) {
        self.applied.send_replace(Applied::of(state));
    }

    /// Writes a snapshot file durably and removes the older ones.
    fn persist_snapshot(&self, meta: &SnapshotMeta, bytes: &[u8]) -> io::Result<()> {
        let name = snapshot_name(meta);
        let ops = self.log_dir.ops();
        write_file_atomically(ops, &self.dir.join(&name), bytes)?;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let other = entry.file_name().to_string_lossy().into_owned();
            if is_snapshot_name(&other) && other < name {
                ops.remove_file(&entry.path())?;
            }
        }
        Ok(())
    }
}

impl RaftSnapshotBuilder<Raft> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (meta, bytes) = {
            let state = self.state.lock();
            let meta = SnapshotMeta {
                last_log_id: state.last_applied,
                last_membership: state.membership.clone(),
                snapshot_id: format!(
                    "{}-{}",
                    state.last_applied.map_or(0, |l| l.index),
                    uuid::Uuid::new_v4().simple()
                ),
            };
            let file = SnapshotFile {
                format: FORMAT_VERSION,
                meta: meta.clone(),
                records: state.image.to_records(),
            };
            let bytes = serde_json::to_vec(&file)
                .map_err(|e| io_error(ErrorVerb::Write, io::Error::other(e)))?;
            (meta, bytes)
        };
        let me = self.clone();
        let (m, b) = (meta.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || me.persist_snapshot(&m, &b))
            .await
            .map_err(|e| io_error(ErrorVerb::Write, io::Error::other(e)))?
            .map_err(|e| io_error(ErrorVerb::Write, e))?;
        self.state.lock().snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<Raft> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let state = self.state.lock();
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut state = self.state.lock();
        for entry in entries {
            let log_id = *entry.get_log_id();
            match &entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(batch) => {
                    apply_batch(&mut state.image, batch).map_err(|e| {
                        StorageError::from_io_error(
                            ErrorSubject::Apply(log_id),
                            ErrorVerb::Read,
                            io::Error::new(io::ErrorKind::InvalidData, e),
                        )
                    })?;
                }
                EntryPayload::Membership(m) => {
                    state.membership = StoredMembership::new(Some(log_id), m.clone());
                }
            }
            state.image.last_offset = log_id.index as i64;
            state.last_applied = Some(log_id);
            responses.push(());
        }
        self.announce(&state);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let file: SnapshotFile = serde_json::from_slice(&bytes).map_err(|e| {
            io_error(
                ErrorVerb::Read,
                io::Error::new(io::ErrorKind::InvalidData, e),
            )
        })?;
        // Checked and built before anything is written: a snapshot this build cannot read is
        // refused whole.
        let batch = MetadataBatch {
            format: file.format,
            records: file.records,
        };
        let mut image = MetadataImage::clone(&self.base);
        apply_batch(&mut image, &batch).map_err(|e| {
            io_error(
                ErrorVerb::Read,
                io::Error::new(io::ErrorKind::InvalidData, e),
            )
        })?;
        let me = self.clone();
        let (m, b) = (meta.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || me.persist_snapshot(&m, &b))
            .await
            .map_err(|e| io_error(ErrorVerb::Write, io::Error::other(e)))?
            .map_err(|e| io_error(ErrorVerb::Write, e))?;
        let mut state = self.state.lock();
        state.image = image;
        state.last_applied = meta.last_log_id;
        state.membership = meta.last_membership.clone();
        state.snapshot = Some((meta.clone(), bytes));
        if let Some(last) = meta.last_log_id {
            state.image.last_offset = last.index as i64;
        }
        self.announce(&state);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self
            .state
            .lock()
            .snapshot
            .clone()
            .map(|(meta, bytes)| Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(bytes)),
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::quorum::types::MetadataBatch;

    #[test]
    fn a_batch_of_a_newer_format_is_refused_whole_and_says_why() {
        let mut image = MetadataImage::default();
        let batch = MetadataBatch::new(vec![MetadataRecord::ProducerIds {
            next_producer_id: 1000,
        }]);
        apply_batch(&mut image, &batch).unwrap();
        assert_eq!(image.next_producer_id, 1000);
        // As a batch of a newer build arrives: a record kind this build does not know.
        let newer = format!(
            r#"{{"format":{},"records":[{{"type":"producer_ids","next_producer_id":2000}},{{"type":"from_the_future","x":1}}]}}"#,
            FORMAT_VERSION + 1
        );
        let batch: MetadataBatch = serde_json::from_str(&newer).unwrap();
        let err = apply_batch(&mut image, &batch).unwrap_err();
        assert!(err.contains("written by a newer kafe"), "{err}");
        assert_eq!(image.next_producer_id, 1000, "nothing of it is applied");
    }
}
