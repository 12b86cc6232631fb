//! openraft's log storage on kafe's own segment log: each Raft entry is one record batch of
//! `__cluster_metadata-0`, at the offset equal to its Raft index, whose partition leader epoch is
//! the entry's term and whose one record holds the entry (key `raft`, value its JSON). The vote and
//! the last purged entry live beside the log in `quorum-state`, replaced atomically and fsynced.
//!
//! Durability, as openraft requires and as its users have learnt the hard way: a vote is on disk
//! before `save_vote` returns, and appended entries are fsynced before openraft is told they are
//! (the `LogFlushed` callback), so an acknowledged vote or append survives any crash. All file work
//! runs on the blocking pool.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogId};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::types::{Entry, LogId, Raft, StorageError, Vote};
use crate::log::io::{Severity, classify, read_small_file, replace_file, write_file_atomically};
use crate::log::{Log, LogError};
use crate::record::batch::{self, NewRecord, ProducerFields};

/// The key of every record holding a Raft entry (older, pre-quorum metadata logs have none).
pub const ENTRY_KEY: &[u8] = b"raft";
const STATE_FILE: &str = "quorum-state";
const COMMITTED_FILE: &str = "quorum-committed";
/// The committed hint is written at most this often: it is a hint, and writing it on every commit
/// would cost a file replacement per metadata change.
const COMMITTED_HINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
/// How much of the log one read brings back at most.
const READ_BYTES: u64 = 4 * 1024 * 1024;

/// What `quorum-state` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumState {
    pub vote: Option<Vote>,
    pub last_purged: Option<LogId>,
}

/// Replaces `quorum-state` in `dir` durably.
pub fn write_quorum_state(
    ops: &dyn crate::log::io::FileOps,
    dir: &std::path::Path,
    state: &QuorumState,
) -> io::Result<()> {
    let bytes = serde_json::to_vec(state).map_err(io::Error::other)?;
    write_file_atomically(ops, &dir.join(STATE_FILE), &bytes)
}

fn io_error(subject: ErrorSubject<u64>, verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from_io_error(subject, verb, e)
}

/// The batch that stores `entry`.
pub fn encode(entry: &Entry) -> io::Result<Vec<u8>> {
    let value = serde_json::to_vec(entry).map_err(io::Error::other)?;
    let index = i64::try_from(entry.log_id.index).map_err(io::Error::other)?;
    let mut bytes = batch::build(
        index,
        crate::clock::now_ms(),
        ProducerFields::NONE,
        &[NewRecord {
            key: Some(ENTRY_KEY),
            value: Some(&value),
            ..NewRecord::default()
        }],
    );
    // The partition leader epoch lies outside the CRC: the entry's term goes there, so the log's
    // epoch cache follows the quorum's terms.
    let term = i32::try_from(entry.log_id.leader_id.term).unwrap_or(i32::MAX);
    bytes[batch::LEADER_EPOCH..batch::LEADER_EPOCH + 4].copy_from_slice(&term.to_be_bytes());
    Ok(bytes)
}

/// The entries in offsets `[start, end)` of `log` (fewer if the log ends first).
pub fn read_entries(log: &Log, start: u64, end: u64) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    // Entries purged into a snapshot are no longer there; the caller gets the ones that are.
    let mut offset = i64::try_from(start)
        .unwrap_or(i64::MAX)
        .max(log.log_start_offset());
    let end = i64::try_from(end)
        .unwrap_or(i64::MAX)
        .min(log.log_end_offset());
    while offset < end {
        let read = log
            .read(offset, READ_BYTES, end, true)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let Some(read) = read else { break };
        let mut bytes = vec![0u8; read.region.len as usize];
        read.region
            .file
            .read_exact_at(&mut bytes, read.region.position)?;
        for (_, range) in batch::split_record_set(&bytes).map_err(io::Error::other)? {
            let records = batch::decode_records(&bytes[range]).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "undecodable metadata batch")
            })?;
            for record in records {
                if record.offset < offset || record.offset >= end {
                    continue;
                }
                if record.key.as_deref() != Some(ENTRY_KEY) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "metadata record at offset {} is not a Raft entry",
                            record.offset
                        ),
                    ));
                }
                let entry: Entry = serde_json::from_slice(&record.value.unwrap_or_default())
                    .map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("metadata entry at offset {}: {e}", record.offset),
                        )
                    })?;
                out.push(entry);
            }
        }
        offset = read.next_offset;
    }
    Ok(out)
}

/// Reads entries for openraft's replication and for applying: any number of readers at once.
#[derive(Clone)]
pub struct LogReader {
    log: Arc<Log>,
}

impl RaftLogReader<Raft> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e + 1,
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        let log = Arc::clone(&self.log);
        tokio::task::spawn_blocking(move || read_entries(&log, start, end))
            .await
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, io::Error::other(e)))?
            .map_err(|e| io_error(ErrorSubject::Logs, ErrorVerb::Read, e))
    }
}

/// The metadata log as openraft's log storage.
pub struct LogStore {
    log: Arc<Log>,
    dir: PathBuf,
    /// Gives back the metadata directory's reserved space; whether there was any to give.
    release_space: ReleaseSpace,
    /// The last committed entry openraft reported, and when the hint file was last written.
    committed: Option<LogId>,
    committed_written_at: Option<std::time::Instant>,
    /// The state file's content and the id of the last entry, kept in memory.
    state: Arc<Mutex<(QuorumState, Option<LogId>)>>,
}

/// Frees reserved space on the metadata directory's disk; whether it freed any.
pub type ReleaseSpace = Arc<dyn Fn() -> bool + Send + Sync>;

impl LogStore {
    /// Opens the store over `log` (the metadata log), reading `quorum-state` and the last entry.
    /// On a full disk an append calls `release_space` and tries once more, so that the change that
    /// frees space (deleting a topic) can still be made.
    pub fn open(log: Arc<Log>, release_space: ReleaseSpace) -> io::Result<LogStore> {
        let dir = log.dir().to_path_buf();
        let ops = log.log_dir().ops();
        let state: QuorumState = match read_small_file(ops, &dir.join(STATE_FILE), 1 << 20)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", dir.join(STATE_FILE).display()),
                )
            })?,
            None => QuorumState::default(),
        };
        let end = log.log_end_offset();
        let last = if end > log.log_start_offset() {
            let end = end as u64;
            read_entries(&log, end - 1, end)?
                .pop()
                .map(|e| *e.get_log_id())
        } else {
            None
        };
        Ok(LogStore {
            log,
            dir,
            release_space,
            committed: None,
            committed_written_at: None,
            state: Arc::new(Mutex::new((state, last))),
        })
    }

    /// The committed entry recorded last (not fsynced: a hint for replay at start-up).
    pub fn read_committed_hint(&self) -> Option<LogId> {
        let ops = self.log.log_dir().ops();
        read_small_file(ops, &self.dir.join(COMMITTED_FILE), 1 << 16)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    fn write_state(&self, state: &QuorumState) -> io::Result<()> {
        write_quorum_state(self.log.log_dir().ops(), &self.dir, state)
    }

    /// Runs blocking file work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        subject: ErrorSubject<u64>,
        verb: ErrorVerb,
        work: impl FnOnce(&LogStore) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StorageError> {
        let me = LogStore {
            log: Arc::clone(&self.log),
            dir: self.dir.clone(),
            release_space: Arc::clone(&self.release_space),
            committed: self.committed,
            committed_written_at: self.committed_written_at,
            state: Arc::clone(&self.state),
        };
        tokio::task::spawn_blocking(move || work(&me))
            .await
            .map_err(|e| io_error(subject.clone(), verb, io::Error::other(e)))?
            .map_err(|e| io_error(subject, verb, e))
    }
}

impl RaftLogReader<Raft> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        LogReader {
            log: Arc::clone(&self.log),
        }
        .try_get_log_entries(range)
        .await
    }
}

impl RaftLogStorage<Raft> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<Raft>, StorageError> {
        let (state, last) = self.state.lock().clone();
        Ok(LogState {
            last_purged_log_id: state.last_purged,
            last_log_id: last.or(state.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            log: Arc::clone(&self.log),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.blocking(ErrorSubject::Vote, ErrorVerb::Write, move |store| {
            let mut state = store.state.lock().0.clone();
            state.vote = Some(vote);
            store.write_state(&state)?;
            store.state.lock().0 = state;
            Ok(())
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.state.lock().0.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not fsynced, and not written on every commit: at start-up it only says how far the log
        // may be replayed before the leader confirms; entries below it were committed, so they
        // are durable already, and the ones after it are applied once a leader confirms them.
        self.committed = committed;
        if self
            .committed_written_at
            .is_some_and(|t| t.elapsed() < COMMITTED_HINT_EVERY)
        {
            return Ok(());
        }
        self.committed_written_at = Some(std::time::Instant::now());
        self.blocking(ErrorSubject::Store, ErrorVerb::Write, move |store| {
            let bytes = serde_json::to_vec(&committed).map_err(io::Error::other)?;
            replace_file(
                store.log.log_dir().ops(),
                &store.dir.join(COMMITTED_FILE),
                &bytes,
                false,
            )
        })
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.committed.or_else(|| self.read_committed_hint()))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<Raft>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| *e.get_log_id()) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let log = Arc::clone(&self.log);
        let release_space = Arc::clone(&self.release_space);
        let written = tokio::task::spawn_blocking(move || -> io::Result<()> {
            if let Some(first) = entries.first()
                && log.log_end_offset() == log.log_start_offset()
                && first.log_id.index as i64 != log.log_end_offset()
            {
                // An empty log (everything before was purged into a snapshot) continues wherever
                // openraft says it does.
                log.truncate_fully_and_start_at(first.log_id.index as i64)
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
            for entry in &entries {
                let bytes = encode(entry)?;
                let now = crate::clock::now_ms();
                let appended = match log.append_as_follower(&bytes, now) {
                    Err(LogError::Io(e)) if classify(&e) == Severity::Full && release_space() => {
                        log.append_as_follower(&bytes, now)
                    }
                    other => other,
                };
                appended.map_err(|e| io::Error::other(e.to_string()))?;
            }
            // Durable before openraft hears of it.
            log.flush().map(|_| ())
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        match written {
            Ok(()) => {
                self.state.lock().1 = Some(last);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                callback.log_io_completed(Err(io::Error::other(message)));
                Err(io_error(ErrorSubject::Logs, ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let index = log_id.index;
        self.blocking(ErrorSubject::Logs, ErrorVerb::Delete, move |store| {
            store
                .log
                .truncate_to(index as i64)
                .map_err(|e| io::Error::other(e.to_string()))?;
            store.log.flush()?;
            let last = if index == 0 {
                None
            } else {
                read_entries(&store.log, index - 1, index)?
                    .pop()
                    .map(|e| *e.get_log_id())
            };
            store.state.lock().1 = last;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking(ErrorSubject::Logs, ErrorVerb::Delete, move |store| {
            // Recorded first: a crash after this and before the deletion leaves entries openraft
            // no longer asks for, never a hole.
            let mut state = store.state.lock().0.clone();
            state.last_purged = Some(log_id);
            store.write_state(&state)?;
            store.state.lock().0 = state;
            let next = (log_id.index + 1) as i64;
            if next <= store.log.log_end_offset() {
                store
                    .log
                    .advance_log_start(next)
                    .map_err(|e| io::Error::other(e.to_string()))?;
            } else {
                // Past the last entry (a snapshot was installed): the log starts over after it.
                store
                    .log
                    .truncate_fully_and_start_at(next)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                store.state.lock().1 = None;
            }
            Ok(())
        })
        .await
    }
}
