//! The log of one partition: an ordered run of segments with dense, increasing offsets, the
//! idempotent-producer state and leader-epoch cache that describe it, one writer at a time and
//! concurrent readers.
//!
//! A partition directory `<topic>-<partition>/` holds the segments, `<offset>.snapshot` producer
//! snapshots and `leader-epoch-checkpoint`. The offsets a log tracks:
//! - log start offset: the first offset readers may ask for (raised by retention and DeleteRecords);
//! - log end offset (LEO): the offset the next appended record gets;
//! - recovery point: every offset below it is fsynced, so recovery after a crash starts there.
//!
//! # Locks and slow work
//! All state sits behind one mutex (`state`) held only for memory work, page-cache writes and the
//! header reads of a lookup. Work that can take long (opening a segment and checking or rebuilding
//! its indexes, creating the next segment at a roll, growing an index, deleting segments, fsync) is
//! never done under it: the fast path finds it needs such work, lets go of the lock and returns a
//! [`Work`] item; [`Log::run`] does the work off the async runtime's worker threads
//! (`block_in_place`) under `files_lock`, which serialises everything that creates, opens or removes
//! this log's files, and then retries the fast path. Readers of other partitions, and the accept
//! loop, never wait for one partition's files. (`files_lock` is always taken before `state`.)

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tracing::{info, warn};

use super::config::{LogConfig, TimestampType};
use super::dir::LogDir;
use super::index_file::{self, Growth};
use super::io::{self as fileio, FileOps, Severity, Target};
use super::leader_epoch::{self, LeaderEpochCache};
use super::producer_state::{
    self, ProducerError, ProducerStateTable, SequenceCheck, snapshot_file_name,
};
use super::retention::{self, RetentionPolicy, SegmentInfo};
use super::segment::{ClosingFiles, Segment, SegmentRead};
use crate::record::batch::{self, BatchError, BatchHeader, PatchedHeader};

/// Errors of log operations, each with one meaning for the API layer.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("record batch of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("offset {offset} is outside the log's range [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("batch at offset {got} does not continue the log at {expected}")]
    NonContiguous { expected: i64, got: i64 },
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error("the log directory {0} is offline")]
    Offline(PathBuf),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on the batches, or -1 for CreateTime topics.
    pub log_append_time: i64,
    pub bytes: usize,
    /// The batch had been written before (an idempotent producer's retry): nothing was appended
    /// and the offsets are those of the first write.
    pub duplicate: bool,
}

/// How to load a log found on disk.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// From the recovery point checkpoint (0 when unknown: scan everything).
    pub recovery_point: i64,
    /// From the log start offset checkpoint, if it names this partition.
    pub log_start_offset: Option<i64>,
    /// Whether the previous run stopped cleanly.
    pub clean_shutdown: bool,
    pub now_ms: i64,
}

/// What retention removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments: usize,
    pub bytes: u64,
}

/// Slow file work the fast path needs done before it can go on.
#[derive(Debug)]
enum Work {
    /// Open the files of the segment with this base offset.
    Open(i64),
    /// Seal the active segment and start a new one at this offset (the log end).
    Roll(i64),
    /// Allocate more room for the indexes of the segment with this base offset.
    Grow(i64, Growth),
}

/// The outcome of one attempt at a fast-path operation.
enum Step<T> {
    Done(T),
    Needs(Work),
}

/// Rounds of slow work one operation may need before the log gives up, beyond three per segment it
/// may touch and per batch it appends (an open, a roll, a growth each): more means something keeps
/// undoing the work, which is a bug.
const SPARE_ROUNDS: usize = 8;
/// How many producer snapshots a log keeps (the newest ones).
const SNAPSHOTS_KEPT: usize = 2;

pub(super) struct LogState {
    pub(super) config: Arc<LogConfig>,
    /// Segments by base offset; never empty, the last one is active.
    pub(super) segments: BTreeMap<i64, Segment>,
    pub(super) start_offset: i64,
    pub(super) next_offset: i64,
    pub(super) recovery_point: i64,
    /// A file was created in (or removed from) the partition directory since it was last fsynced.
    pub(super) dir_dirty: bool,
    /// The partition directory itself is new: its parent needs an fsync too.
    pub(super) parent_dirty: bool,
    /// Bumped by every truncation, so a flush that raced one does not move the recovery point.
    pub(super) truncations: u64,
    pub(super) producers: ProducerStateTable,
    pub(super) epochs: LeaderEpochCache,
    /// Offsets of the producer snapshots on disk.
    pub(super) snapshots: BTreeSet<i64>,
}

pub struct Log {
    dir: Arc<LogDir>,
    path: Arc<Path>,
    topic: String,
    partition: i32,
    state: Mutex<LogState>,
    /// Serialises creating, opening and removing this log's files (see the module docs).
    files_lock: Mutex<()>,
    /// Serialises fsyncs: waiters queue here and usually find their data already synced.
    flush_lock: tokio::sync::Mutex<()>,
    end_offset: AtomicI64,
    start_offset: AtomicI64,
    recovery_point: AtomicI64,
    flushes: AtomicU64,
}

/// Runs slow, blocking work: off the async runtime's worker thread when called on one (the worker's
/// other tasks move to another thread meanwhile), in place otherwise.
fn offload<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

impl Log {
    pub(super) fn from_state(
        dir: Arc<LogDir>,
        path: &Path,
        topic: &str,
        partition: i32,
        state: LogState,
    ) -> Log {
        Log {
            dir,
            path: Arc::from(path),
            topic: topic.to_string(),
            partition,
            end_offset: AtomicI64::new(state.next_offset),
            start_offset: AtomicI64::new(state.start_offset),
            recovery_point: AtomicI64::new(state.recovery_point),
            state: Mutex::new(state),
            files_lock: Mutex::new(()),
            flush_lock: tokio::sync::Mutex::new(()),
            flushes: AtomicU64::new(0),
        }
    }

    /// Creates an empty log in `path` (created if missing) starting at `start_offset`. Its files are
    /// closed until first used. Nothing is fsynced yet: an empty log lost to a crash is simply
    /// created again, and the first flush makes the directory durable.
    pub fn create(
        dir: Arc<LogDir>,
        path: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        start_offset: i64,
        now_ms: i64,
    ) -> io::Result<Log> {
        let ops = dir.ops();
        ops.create_dir_all(path)?;
        let path_arc: Arc<Path> = Arc::from(path);
        let mut segment = Segment::create(ops, &path_arc, start_offset, &config, now_ms)?;
        if let Some(files) = segment.take_files() {
            files.close(ops)?;
        }
        let mut segments = BTreeMap::new();
        segments.insert(start_offset, segment);
        Ok(Self::from_state(
            Arc::clone(&dir),
            path,
            topic,
            partition,
            LogState {
                config: Arc::new(config),
                segments,
                start_offset,
                next_offset: start_offset,
                recovery_point: start_offset,
                dir_dirty: true,
                parent_dirty: true,
                truncations: 0,
                producers: ProducerStateTable::default(),
                epochs: LeaderEpochCache::default(),
                snapshots: BTreeSet::new(),
            },
        ))
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The log directory this log lives in.
    pub fn log_dir(&self) -> &Arc<LogDir> {
        &self.dir
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    fn ops(&self) -> &dyn FileOps {
        self.dir.ops()
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.end_offset.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.start_offset.load(Ordering::Acquire)
    }

    /// Every offset below this is on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// How many fsync rounds ran (group commit makes this far smaller than the number of waiters).
    pub fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> Arc<LogConfig> {
        Arc::clone(&self.state.lock().config)
    }

    pub fn set_config(&self, config: LogConfig) {
        let mut state = self.state.lock();
        if *state.config != config {
            state.config = Arc::new(config);
        }
    }

    /// Bytes in all segments.
    pub fn size_in_bytes(&self) -> u64 {
        self.state.lock().segments.values().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.state.lock().segments.len()
    }

    /// How many segments have their files open (each holds one descriptor).
    pub fn open_segment_count(&self) -> usize {
        self.state
            .lock()
            .segments
            .values()
            .filter(|s| s.is_open())
            .count()
    }

    /// Producers with idempotence state here.
    pub fn producer_count(&self) -> usize {
        self.state.lock().producers.len()
    }

    fn offline(&self) -> LogError {
        LogError::Offline(self.dir.path().to_path_buf())
    }

    /// Passes an error through, taking the directory offline first if it is fatal.
    fn observe(&self, what: &str, error: LogError) -> LogError {
        match error {
            LogError::Io(e) => LogError::Io(
                self.dir
                    .observe(&format!("{what} {}", self.path.display()), e),
            ),
            other => other,
        }
    }

    fn observe_io(&self, what: &str, error: io::Error) -> io::Error {
        self.dir
            .observe(&format!("{what} {}", self.path.display()), error)
    }

    /// Runs a fast-path `attempt` under the state lock, doing whatever slow work it asks for in
    /// between (see the module docs).
    fn run<T>(
        &self,
        what: &str,
        batches: usize,
        mut attempt: impl FnMut(&mut LogState) -> Result<Step<T>, LogError>,
    ) -> Result<T, LogError> {
        let rounds = SPARE_ROUNDS + 3 * (self.segment_count() + batches);
        for _ in 0..rounds {
            if !self.dir.is_online() {
                return Err(self.offline());
            }
            let step = attempt(&mut self.state.lock());
            match step {
                Ok(Step::Done(value)) => return Ok(value),
                Ok(Step::Needs(work)) => offload(|| self.do_work(work))
                    .map_err(|e| self.observe(what, LogError::Io(e)))?,
                Err(e) => return Err(self.observe(what, e)),
            }
        }
        Err(LogError::Io(io::Error::other(format!(
            "{what} {}: the log's file work did not settle after {rounds} rounds",
            self.path.display()
        ))))
    }

    /// Does slow work outside the state lock (but under `files_lock`).
    fn do_work(&self, work: Work) -> io::Result<()> {
        let _files = self.files_lock.lock();
        let ops = self.ops();
        match work {
            Work::Open(base) => self.open_segment(base),
            Work::Roll(base) => self.roll_to(base),
            Work::Grow(base, growth) => {
                let result = growth.apply(ops);
                let ok = match &result {
                    Ok(()) => true,
                    Err(e) if fileio::classify(e) == Severity::Fatal => {
                        return Err(
                            self.observe_io("growing an index of", fileio::fatal("allocate", e))
                        );
                    }
                    Err(e) => {
                        warn!(index = %growth.path.display(), error = %e,
                            "cannot grow the index; appends go unindexed until there is room");
                        false
                    }
                };
                if let Some(segment) = self.state.lock().segments.get_mut(&base) {
                    segment.grown(&growth, ok);
                }
                Ok(())
            }
        }
    }

    /// Opens the files of the segment at `base` on a detached copy, outside the state lock, and puts
    /// the copy in its place if nothing changed meanwhile. Called under `files_lock`.
    fn open_segment(&self, base: i64) -> io::Result<()> {
        let (mut copy, config) = {
            let state = self.state.lock();
            match state.segments.get(&base) {
                Some(s) if !s.is_open() => (s.detached(), Arc::clone(&state.config)),
                _ => return Ok(()),
            }
        };
        copy.open(self.ops(), &config)?;
        let mut state = self.state.lock();
        if let Some(segment) = state.segments.get_mut(&base)
            && segment.same_extent(&copy)
        {
            *segment = copy;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `base`, if the log end is still there and
    /// no one rolled meanwhile. Called under `files_lock`.
    fn roll_to(&self, base: i64) -> io::Result<()> {
        let ops = self.ops();
        let (config, active) = {
            let state = self.state.lock();
            if state.next_offset != base || state.active_base() == base {
                return Ok(());
            }
            (Arc::clone(&state.config), state.active_base())
        };
        // Sealing writes the final time-index entry (what retention reads the segment's newest
        // timestamp from after a restart), so the segment must be open.
        self.open_segment(active)?;
        let segment = Segment::create(ops, &self.path, base, &config, crate::clock::now_ms())?;
        let (trims, snapshot) = {
            let mut state = self.state.lock();
            if state.next_offset != base || state.active_base() == base {
                drop(state);
                return segment.delete(ops);
            }
            let trims = match state.segments.values_mut().next_back() {
                Some(active) => active.seal(),
                None => Vec::new(),
            };
            state.segments.insert(base, segment);
            state.dir_dirty = true;
            (trims, state.producers.encode())
        };
        for trim in trims {
            index_file::trim(ops, &trim.path, trim.len)?;
        }
        // The producer state as of the new segment's start, so that loading replays at most one
        // segment. Not fsynced: a snapshot lost to a crash only means a longer replay.
        self.write_snapshot(base, &snapshot, false);
        Ok(())
    }

    /// Writes the producer snapshot for `offset` and drops the older ones beyond those kept. A
    /// failure is logged (a full disk) or takes the directory offline; the log goes on either way.
    fn write_snapshot(&self, offset: i64, bytes: &[u8], durable: bool) {
        let ops = self.ops();
        let path = self.path.join(snapshot_file_name(offset));
        if let Err(e) = fileio::replace_file(ops, &path, bytes, durable) {
            let e = self.observe_io("writing a producer snapshot of", e);
            warn!(file = %path.display(), error = %e, "could not write a producer snapshot");
            return;
        }
        let doomed: Vec<i64> = {
            let mut state = self.state.lock();
            state.snapshots.insert(offset);
            let excess = state.snapshots.len().saturating_sub(SNAPSHOTS_KEPT);
            let doomed: Vec<i64> = state.snapshots.iter().take(excess).copied().collect();
            for o in &doomed {
                state.snapshots.remove(o);
            }
            doomed
        };
        for o in doomed {
            if let Err(e) = ops.remove_file(&self.path.join(snapshot_file_name(o))) {
                let _ = self.observe_io("removing a producer snapshot of", e);
            }
        }
    }

    /// Appends a producer's record set as the partition leader: validates every batch (framing, CRC,
    /// counts, size), answers an idempotent producer's retry with the offsets it got the first time,
    /// refuses sequence gaps and fenced epochs, gives each batch the next offsets and
    /// `leader_epoch`, stamps LogAppendTime when the topic asks for it, and writes it. Nothing is
    /// written if any batch is refused.
    pub fn append_as_leader(
        &self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let batches = batch::split_record_set(records)?;
        self.append_validated_as_leader(records, &batches, leader_epoch, now_ms)
    }

    /// [`Log::append_as_leader`] for a record set the caller already split with
    /// [`batch::split_record_set`] (which checked framing and CRCs).
    pub fn append_validated_as_leader(
        &self,
        records: &[u8],
        batches: &[(BatchHeader, std::ops::Range<usize>)],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        for (header, _) in batches {
            batch::validate_client_batch(header)?;
        }
        let ops = self.ops();
        let mut appended = 0usize;
        let mut first_offset = -1;
        self.run("appending to", batches.len(), |state| {
            let config = Arc::clone(&state.config);
            let log_append_time =
                (config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
            if appended == 0 {
                for (_, range) in batches {
                    if range.len() > config.max_message_bytes {
                        return Err(LogError::TooLarge {
                            size: range.len(),
                            max: config.max_message_bytes,
                        });
                    }
                }
                for (header, _) in batches {
                    if let SequenceCheck::Duplicate(done) = state.producers.check(header)? {
                        return Ok(Step::Done(AppendInfo {
                            first_offset: done.first_offset,
                            last_offset: done.last_offset,
                            log_append_time: done.log_append_time,
                            bytes: 0,
                            duplicate: true,
                        }));
                    }
                }
            }
            for (header, range) in batches.iter().skip(appended) {
                let bytes = &records[range.clone()];
                let base_offset = state.next_offset;
                let written = BatchHeader {
                    base_offset,
                    partition_leader_epoch: leader_epoch,
                    max_timestamp: log_append_time.unwrap_or(header.max_timestamp),
                    ..*header
                };
                if let Some(work) = state.work_before_append(&written, now_ms) {
                    return Ok(Step::Needs(work));
                }
                let patch = PatchedHeader::new(bytes, base_offset, leader_epoch, log_append_time);
                let patched = patch.bytes();
                state.append_batch(ops, &written, &[patched, &bytes[patched.len()..]])?;
                state.producers.record(
                    header,
                    base_offset,
                    written.last_offset(),
                    log_append_time.unwrap_or(-1),
                    now_ms,
                );
                state.epochs.assign(leader_epoch, base_offset);
                if appended == 0 {
                    first_offset = base_offset;
                }
                appended += 1;
            }
            self.end_offset.store(state.next_offset, Ordering::Release);
            Ok(Step::Done(AppendInfo {
                first_offset,
                last_offset: state.next_offset - 1,
                log_append_time: log_append_time.unwrap_or(-1),
                bytes: records.len(),
                duplicate: false,
            }))
        })
    }

    /// Appends batches that already carry their offsets (a follower copying its leader). The first
    /// batch must start exactly at the log end offset and each must follow the previous one. The
    /// producer state and epoch cache follow what the batches say.
    pub fn append_as_follower(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let batches = batch::split_record_set(records)?;
        let ops = self.ops();
        let mut appended = 0usize;
        let mut first_offset = -1;
        self.run("appending to", batches.len(), |state| {
            if appended == 0 {
                let mut expected = state.next_offset;
                for (header, _) in &batches {
                    if header.base_offset != expected {
                        return Err(LogError::NonContiguous {
                            expected,
                            got: header.base_offset,
                        });
                    }
                    expected = header.next_offset();
                }
            }
            for (header, range) in batches.iter().skip(appended) {
                if header.base_offset != state.next_offset {
                    return Err(LogError::NonContiguous {
                        expected: state.next_offset,
                        got: header.base_offset,
                    });
                }
                if let Some(work) = state.work_before_append(header, now_ms) {
                    return Ok(Step::Needs(work));
                }
                state.append_batch(ops, header, &[&records[range.clone()]])?;
                state.producers.replay(header, now_ms);
                state
                    .epochs
                    .assign(header.partition_leader_epoch, header.base_offset);
                if appended == 0 {
                    first_offset = header.base_offset;
                }
                appended += 1;
            }
            self.end_offset.store(state.next_offset, Ordering::Release);
            Ok(Step::Done(AppendInfo {
                first_offset,
                last_offset: state.next_offset - 1,
                log_append_time: -1,
                bytes: records.len(),
                duplicate: false,
            }))
        })
    }

    fn out_of_range(state: &LogState, offset: i64) -> LogError {
        LogError::OffsetOutOfRange {
            offset,
            start: state.start_offset,
            end: state.next_offset,
        }
    }

    /// Reads whole batches from the one holding `offset`: up to `max_bytes` (at least one batch when
    /// `min_one`), none at or above `upper_bound`. `None` when there is nothing to read yet.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        upper_bound: i64,
        min_one: bool,
    ) -> Result<Option<SegmentRead>, LogError> {
        let ops = self.ops();
        self.run("reading", 0, |state| {
            if offset < state.start_offset || offset > state.next_offset {
                return Err(Self::out_of_range(state, offset));
            }
            if offset >= upper_bound.min(state.next_offset) {
                return Ok(Step::Done(None));
            }
            let config = Arc::clone(&state.config);
            let from = state.base_holding(offset);
            for (base, segment) in state.segments.range_mut(from..) {
                if !segment.is_open() {
                    return Ok(Step::Needs(Work::Open(*base)));
                }
                if let Some(read) =
                    segment.read(ops, &config, offset, max_bytes, upper_bound, min_one)?
                {
                    return Ok(Step::Done(Some(read)));
                }
            }
            Ok(Step::Done(None))
        })
    }

    /// Visits every record from the log start on, in offset order. For the broker's own internal
    /// topics (cluster metadata, group offsets), which it writes uncompressed: a batch whose records
    /// cannot be decoded is an error naming its offset. Returns how many records were visited.
    pub fn for_each_record(
        &self,
        mut visit: impl FnMut(batch::DecodedRecord) -> io::Result<()>,
    ) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut offset = self.log_start_offset();
        let mut count = 0;
        loop {
            let read = self
                .read(offset, 1024 * 1024, i64::MAX, true)
                .map_err(|e| io::Error::other(format!("reading {}: {e}", self.path.display())))?;
            let Some(read) = read else { return Ok(count) };
            let mut bytes = vec![0u8; read.region.len as usize];
            read.region
                .file
                .read_exact_at(&mut bytes, read.region.position)
                .map_err(|e| self.observe_io("reading", e))?;
            let batches = batch::split_record_set(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: batch at offset {} or after: {e}",
                        self.path.display(),
                        read.first_offset
                    ),
                )
            })?;
            for (header, range) in batches {
                let records = batch::decode_records(&bytes[range]).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{}: undecodable batch at offset {}",
                            self.path.display(),
                            header.base_offset
                        ),
                    )
                })?;
                for record in records.into_iter().filter(|r| r.offset >= offset) {
                    visit(record)?;
                    count += 1;
                }
            }
            offset = read.next_offset;
        }
    }

    /// The first record at or after `timestamp` below `upper_bound`: its offset and timestamp. (A batch
    /// whose records cannot be read counts as a whole: its first offset and max timestamp.)
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
        upper_bound: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        let ops = self.ops();
        self.run("searching", 0, |state| {
            let config = Arc::clone(&state.config);
            let start_offset = state.start_offset;
            for (base, segment) in state.segments.iter_mut() {
                if segment.next_offset() <= start_offset || segment.is_empty() {
                    continue;
                }
                if !segment.is_open() {
                    return Ok(Step::Needs(Work::Open(*base)));
                }
                match segment.max_timestamp()? {
                    Some((max, _)) if max >= timestamp => {}
                    _ => continue,
                }
                let Some((header, bytes)) = segment.find_by_timestamp(ops, &config, timestamp)?
                else {
                    continue;
                };
                let found = match batch::records_by_offset(&bytes) {
                    Some(records) => records
                        .into_iter()
                        .find(|(offset, ts)| *ts >= timestamp && *offset >= start_offset),
                    None => Some((header.base_offset.max(start_offset), header.max_timestamp)),
                };
                return Ok(Step::Done(
                    found.filter(|(offset, _)| *offset < upper_bound),
                ));
            }
            Ok(Step::Done(None))
        })
    }

    /// The record with the largest timestamp (the first such) below `upper_bound`: (offset, timestamp).
    pub fn max_timestamp(&self, upper_bound: i64) -> Result<Option<(i64, i64)>, LogError> {
        let ops = self.ops();
        self.run("searching", 0, |state| {
            let config = Arc::clone(&state.config);
            let mut best: Option<(i64, i64, i64)> = None; // (timestamp, batch last offset, segment base)
            for (base, segment) in state.segments.iter_mut() {
                if segment.is_empty() {
                    continue;
                }
                if !segment.is_open() {
                    return Ok(Step::Needs(Work::Open(*base)));
                }
                if let Some((ts, offset)) = segment.max_timestamp()?
                    && best.is_none_or(|(best_ts, _, _)| ts > best_ts)
                {
                    best = Some((ts, offset, *base));
                }
            }
            let Some((ts, offset, base)) = best else {
                return Ok(Step::Done(None));
            };
            let Some(segment) = state.segments.get_mut(&base) else {
                return Ok(Step::Done(None));
            };
            let exact = match segment.batch_at(ops, &config, offset)? {
                Some((header, bytes)) => batch::records_by_offset(&bytes)
                    .and_then(|records| records.into_iter().find(|(_, t)| *t == ts))
                    .unwrap_or((header.base_offset, ts)),
                None => (offset, ts),
            };
            Ok(Step::Done(
                Some(exact).filter(|(offset, _)| *offset < upper_bound),
            ))
        })
    }

    /// The latest leader epoch that wrote to (or took over) this log.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.state.lock().epochs.latest().map(|e| e.epoch)
    }

    /// The epoch of the leader that wrote `offset`, if the cache knows.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.state.lock().epochs.epoch_for_offset(offset)
    }

    /// OffsetForLeaderEpoch: where `epoch` ends in this log (see
    /// [`LeaderEpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let state = self.state.lock();
        state.epochs.end_offset_for(epoch, state.next_offset)
    }

    /// A leader taking over with `epoch`: its epoch starts at the log end. The checkpoint file takes
    /// it with the next flush, as it does every epoch that batches bring.
    pub fn assign_epoch_start(&self, epoch: i32) -> Result<(), LogError> {
        if !self.dir.is_online() {
            return Err(self.offline());
        }
        let mut state = self.state.lock();
        let end = state.next_offset;
        state.epochs.assign(epoch, end);
        Ok(())
    }

    /// Writes `leader-epoch-checkpoint` now if the cache changed since it was last written (the
    /// periodic checkpoint). Blocking.
    pub fn checkpoint_epochs(&self) -> io::Result<()> {
        if !self.dir.is_online() {
            return Ok(());
        }
        let durable_end = self.recovery_point();
        if self.state.lock().epochs.to_write(durable_end).is_none() {
            return Ok(());
        }
        let _files = self.files_lock.lock();
        self.write_epoch_checkpoint(durable_end)
            .map_err(|e| self.observe_io("writing the leader epochs of", e))
    }

    /// Writes `leader-epoch-checkpoint` with the epochs starting below `durable_end` if the file
    /// does not hold exactly them. Called under `files_lock`.
    fn write_epoch_checkpoint(&self, durable_end: i64) -> io::Result<()> {
        let Some(entries) = self.state.lock().epochs.to_write(durable_end) else {
            return Ok(());
        };
        fileio::write_file_atomically(
            self.ops(),
            &self.path.join(leader_epoch::CHECKPOINT_FILE),
            LeaderEpochCache::encode(&entries).as_bytes(),
        )?;
        self.state.lock().epochs.written(entries);
        Ok(())
    }

    /// Forgets producers not heard from for `idle_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now_ms: i64, idle_ms: i64) {
        self.state.lock().producers.expire(now_ms, idle_ms);
    }

    /// Removes every batch at or after the one holding `offset` (a follower cutting a divergent
    /// tail), with the producer state and leader epochs of what was removed. Returns the new log end
    /// offset. Slow: the files work happens under the state lock, which only this partition's
    /// readers wait for.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        if !self.dir.is_online() {
            return Err(self.offline());
        }
        offload(|| self.truncate_to_now(offset))
            .map_err(|e| self.observe("truncating", LogError::Io(e)))
    }

    fn truncate_to_now(&self, offset: i64) -> io::Result<i64> {
        let _files = self.files_lock.lock();
        let ops = self.ops();
        let mut state = self.state.lock();
        if offset >= state.next_offset {
            return Ok(state.next_offset);
        }
        let first_base = *state.segments.keys().next().unwrap_or(&0);
        if offset <= first_base {
            drop(state);
            self.truncate_fully_now(offset.max(0))?;
            return Ok(self.log_end_offset());
        }
        state.truncations += 1;
        let config = Arc::clone(&state.config);
        let doomed: Vec<i64> = state.segments.range(offset..).map(|(b, _)| *b).collect();
        for base in doomed {
            if let Some(segment) = state.segments.remove(&base) {
                segment.delete(ops)?;
            }
        }
        let next = match state.segments.values_mut().next_back() {
            Some(last) => {
                last.reactivate(ops, &config)?;
                if !last.is_open() {
                    last.open(ops, &config)?;
                }
                last.truncate_to(ops, &config, offset)?
            }
            None => offset,
        };
        state.next_offset = next;
        state.recovery_point = state.recovery_point.min(next);
        state.start_offset = state.start_offset.min(next);
        state.dir_dirty = true;
        state.epochs.truncate_from_end(next);
        state.drop_snapshots_after(ops, &self.path, next)?;
        state.load_producers(ops, &self.path, crate::clock::now_ms())?;
        self.publish_offsets(&state);
        drop(state);
        self.write_epoch_checkpoint(next)?;
        info!(topic = %self.topic, partition = self.partition, offset = next, "truncated log");
        Ok(next)
    }

    /// Drops every segment and starts an empty log at `offset`.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        if !self.dir.is_online() {
            return Err(self.offline());
        }
        offload(|| {
            let _files = self.files_lock.lock();
            self.truncate_fully_now(offset)
        })
        .map_err(|e| self.observe("emptying", LogError::Io(e)))
    }

    /// Called under `files_lock`.
    fn truncate_fully_now(&self, offset: i64) -> io::Result<()> {
        let ops = self.ops();
        let mut state = self.state.lock();
        state.truncations += 1;
        let config = Arc::clone(&state.config);
        for (_, segment) in std::mem::take(&mut state.segments) {
            segment.delete(ops)?;
        }
        let segment = Segment::create(ops, &self.path, offset, &config, crate::clock::now_ms())?;
        state.segments.insert(offset, segment);
        state.next_offset = offset;
        state.start_offset = offset;
        state.recovery_point = offset;
        state.dir_dirty = true;
        state.epochs.clear();
        state.producers = ProducerStateTable::default();
        state.drop_snapshots_after(ops, &self.path, -1)?;
        self.publish_offsets(&state);
        drop(state);
        self.write_epoch_checkpoint(offset)
    }

    /// Raises the log start offset (DeleteRecords, or retention) and deletes the segments that now
    /// lie wholly below it. Returns the log start offset in force.
    pub fn advance_log_start(&self, offset: i64) -> Result<i64, LogError> {
        if !self.dir.is_online() {
            return Err(self.offline());
        }
        let doomed = {
            let mut state = self.state.lock();
            if offset > state.next_offset {
                return Err(Self::out_of_range(&state, offset));
            }
            if offset <= state.start_offset {
                return Ok(state.start_offset);
            }
            state.start_offset = offset;
            state.epochs.truncate_from_start(offset);
            self.publish_offsets(&state);
            state.take_segments_below(offset)
        };
        if !doomed.is_empty() {
            offload(|| self.delete_segments(doomed))
                .map_err(|e| self.observe("deleting segments of", LogError::Io(e)))?;
        }
        Ok(offset)
    }

    fn delete_segments(&self, doomed: Vec<Segment>) -> io::Result<()> {
        let _files = self.files_lock.lock();
        for segment in doomed {
            segment.delete(self.ops())?;
        }
        self.state.lock().dir_dirty = true;
        Ok(())
    }

    /// Deletes whole old segments by `retention.ms` and `retention.bytes`, never at or above
    /// `upper_bound`, and moves the log start offset past them. Blocking.
    pub fn apply_retention(
        &self,
        now_ms: i64,
        upper_bound: i64,
    ) -> Result<RetentionReport, LogError> {
        if !self.dir.is_online() {
            return Err(self.offline());
        }
        let _files = self.files_lock.lock();
        let ops = self.ops();
        // The newest timestamps of closed segments are read from their time indexes outside the
        // state lock, once per segment.
        let unknown: Vec<i64> = {
            let state = self.state.lock();
            if !state.config.delete_enabled || state.config.retention_ms < 0 {
                Vec::new()
            } else {
                state
                    .segments
                    .values()
                    .filter(|s| s.known_largest_timestamp().is_none() && !s.is_empty())
                    .map(Segment::base_offset)
                    .collect()
            }
        };
        let mut found = Vec::with_capacity(unknown.len());
        for base in unknown {
            let ts = Segment::read_largest_timestamp(ops, &self.path, base)
                .map_err(|e| self.observe("reading the time index of", LogError::Io(e)))?;
            found.push((base, ts));
        }
        let doomed = {
            let mut state = self.state.lock();
            for (base, ts) in found {
                if let Some(segment) = state.segments.get_mut(&base) {
                    segment.remember_largest_timestamp(ts);
                }
            }
            let infos: Vec<SegmentInfo> = state
                .segments
                .values()
                .map(|segment| SegmentInfo {
                    base_offset: segment.base_offset(),
                    next_offset: segment.next_offset(),
                    size: segment.size(),
                    // Unknown only for a segment that appeared meanwhile: too new to expire.
                    largest_timestamp: segment.known_largest_timestamp().unwrap_or(now_ms),
                })
                .collect();
            let policy = RetentionPolicy {
                now_ms,
                retention_ms: state.config.retention_ms,
                retention_bytes: state.config.retention_bytes,
                delete_enabled: state.config.delete_enabled,
                log_start_offset: state.start_offset,
                upper_bound,
            };
            let (count, reason) = retention::segments_to_delete(&infos, &policy);
            if count == 0 {
                return Ok(RetentionReport::default());
            }
            let new_start = infos[count].base_offset;
            info!(topic = %self.topic, partition = self.partition, segments = count, ?reason,
                new_log_start_offset = new_start, "retention deleting segments");
            state.start_offset = state.start_offset.max(new_start);
            let start = state.start_offset;
            state.epochs.truncate_from_start(start);
            self.publish_offsets(&state);
            state.dir_dirty = true;
            state.take_segments_below(new_start)
        };
        let mut report = RetentionReport::default();
        for segment in doomed {
            report.segments += 1;
            report.bytes += segment.size();
            segment
                .delete(ops)
                .map_err(|e| self.observe("deleting segments of", LogError::Io(e)))?;
        }
        Ok(report)
    }

    fn publish_offsets(&self, state: &LogState) {
        self.end_offset.store(state.next_offset, Ordering::Release);
        self.start_offset
            .store(state.start_offset, Ordering::Release);
        self.recovery_point
            .store(state.recovery_point, Ordering::Release);
    }

    /// Fsyncs everything appended so far (and the directory entries and leader epochs that go with
    /// it), then moves the recovery point to the log end offset it saw. Blocking. A failed fsync
    /// takes the log directory offline: after one, the kernel may have dropped the data it could
    /// not write, so nothing written since the last good fsync can be acknowledged any more.
    pub fn flush(&self) -> io::Result<i64> {
        if !self.dir.is_online() {
            return Err(io::Error::other(self.offline().to_string()));
        }
        let (files, target, dir_dirty, parent_dirty, truncations) = {
            let mut state = self.state.lock();
            let target = state.next_offset;
            if state.recovery_point >= target
                && !state.dir_dirty
                && state.epochs.to_write(target).is_none()
            {
                return Ok(state.recovery_point);
            }
            let recovery_point = state.recovery_point;
            let files: Vec<_> = state
                .segments
                .values()
                .filter(|s| s.next_offset() > recovery_point || s.is_active())
                .filter_map(Segment::open_log_file)
                .collect();
            let dir_dirty = std::mem::take(&mut state.dir_dirty);
            let parent_dirty = std::mem::take(&mut state.parent_dirty);
            (files, target, dir_dirty, parent_dirty, state.truncations)
        };
        let ops = self.ops();
        for (file, path) in &files {
            ops.sync(Target {
                file,
                path: path.as_path(),
            })
            .map_err(|e| self.observe_io("fsync of", fileio::fatal("fsync", &e)))?;
        }
        if dir_dirty {
            ops.sync_dir(&self.path)
                .map_err(|e| self.observe_io("fsync of", fileio::fatal("fsync", &e)))?;
        }
        if parent_dirty && let Some(parent) = self.path.parent() {
            ops.sync_dir(parent)
                .map_err(|e| self.observe_io("fsync of", fileio::fatal("fsync", &e)))?;
        }
        {
            // Epochs before the recovery point must be on disk: recovery only rescans after it.
            let _files = self.files_lock.lock();
            self.write_epoch_checkpoint(target)
                .map_err(|e| self.observe_io("writing the leader epochs of", e))?;
        }
        self.flushes.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock();
        if state.truncations == truncations && target > state.recovery_point {
            state.recovery_point = target.min(state.next_offset);
            self.recovery_point
                .store(state.recovery_point, Ordering::Release);
        }
        Ok(state.recovery_point)
    }

    /// Waits until every offset below `offset` is on disk. Concurrent callers share fsyncs: while
    /// one flush runs the others queue, and the next flush covers all of them at once.
    pub async fn flush_up_to(self: &Arc<Self>, offset: i64) -> io::Result<()> {
        if self.recovery_point() >= offset {
            return Ok(());
        }
        let _turn = self.flush_lock.lock().await;
        if self.recovery_point() >= offset {
            return Ok(());
        }
        let log = Arc::clone(self);
        tokio::task::spawn_blocking(move || log.flush())
            .await
            .map_err(|e| io::Error::other(format!("flush task failed: {e}")))??;
        Ok(())
    }

    /// Starts a new segment at the log end offset unless the active one is empty; returns the log
    /// end offset. Everything appended before now lies in sealed segments, which advancing the log
    /// start offset past them can then delete. Blocking.
    pub fn roll(&self) -> io::Result<i64> {
        if !self.dir.is_online() {
            return Err(io::Error::other(self.offline().to_string()));
        }
        let _files = self.files_lock.lock();
        let next = {
            let state = self.state.lock();
            if state
                .segments
                .values()
                .next_back()
                .is_some_and(Segment::is_empty)
            {
                return Ok(state.next_offset);
            }
            state.next_offset
        };
        self.roll_to(next)
            .map_err(|e| self.observe_io("rolling", e))?;
        Ok(next)
    }

    /// Whether sealed segments hold data that is not yet fsynced (after a roll).
    pub fn has_unflushed_sealed_segments(&self) -> bool {
        let state = self.state.lock();
        state.recovery_point < state.active_base()
    }

    /// Notes that the directory holding this log's directory was fsynced since it was created.
    pub fn mark_parent_synced(&self) {
        self.state.lock().parent_dirty = false;
    }

    /// Closes the files of segments untouched for `idle` whose data is already on disk. Blocking.
    pub fn close_idle_segments(&self, idle: Duration) {
        let _files = self.files_lock.lock();
        let closing: Vec<ClosingFiles> = {
            let mut state = self.state.lock();
            let recovery_point = state.recovery_point;
            state
                .segments
                .values_mut()
                .filter(|s| {
                    s.is_open()
                        && s.last_used().elapsed() >= idle
                        && s.next_offset() <= recovery_point
                })
                .filter_map(Segment::take_files)
                .collect()
        };
        for files in closing {
            if let Err(e) = files.close(self.ops()) {
                let e = self.observe_io("closing", e);
                warn!(dir = %self.path.display(), error = %e, "could not close segment files");
            }
        }
    }

    /// Clean shutdown: fsync everything, snapshot the producer state at the log end, close every
    /// file (trimming the active segment's indexes). Blocking.
    pub fn close(&self) -> io::Result<()> {
        self.flush()?;
        let _files = self.files_lock.lock();
        let (end, snapshot, closing) = {
            let mut state = self.state.lock();
            let closing: Vec<ClosingFiles> = state
                .segments
                .values_mut()
                .filter_map(Segment::take_files)
                .collect();
            (state.next_offset, state.producers.encode(), closing)
        };
        // Not fsynced: the segments are, and a snapshot lost to a power cut only means a longer
        // replay at the next start (a damaged one fails its CRC and an older one is used).
        if !self.state.lock().snapshots.contains(&end) {
            self.write_snapshot(end, &snapshot, false);
        }
        for files in closing {
            files
                .close(self.ops())
                .map_err(|e| self.observe_io("closing", e))?;
        }
        Ok(())
    }
}

impl LogState {
    pub(super) fn active_base(&self) -> i64 {
        self.segments.keys().next_back().copied().unwrap_or(0)
    }

    /// The base offset of the segment that holds `offset` (or `offset` itself, before them all).
    fn base_holding(&self, offset: i64) -> i64 {
        self.segments
            .range(..=offset)
            .next_back()
            .map_or(offset, |(b, _)| *b)
    }

    /// The slow work needed before `header` can be appended to the active segment, if any.
    fn work_before_append(&self, header: &BatchHeader, now_ms: i64) -> Option<Work> {
        let (base, active) = self.segments.iter().next_back()?;
        if !active.is_open() {
            return Some(Work::Open(*base));
        }
        if active.should_roll(
            &self.config,
            header.total_size(),
            header.max_timestamp,
            header.last_offset(),
            now_ms,
        ) {
            return Some(Work::Roll(header.base_offset));
        }
        active
            .growth_needed(&self.config)
            .map(|growth| Work::Grow(*base, growth))
    }

    /// Appends one batch to the active segment, which [`Self::work_before_append`] made ready.
    fn append_batch(
        &mut self,
        ops: &dyn FileOps,
        header: &BatchHeader,
        parts: &[&[u8]],
    ) -> Result<(), LogError> {
        let config = Arc::clone(&self.config);
        let Some((_, active)) = self.segments.iter_mut().next_back() else {
            return Err(LogError::Io(io::Error::other("log has no active segment")));
        };
        assert!(active.is_active(), "appending to a sealed segment");
        assert_eq!(
            header.base_offset, self.next_offset,
            "batches must continue the log"
        );
        active.append(ops, &config, header, parts)?;
        self.next_offset = header.next_offset();
        Ok(())
    }

    /// Removes, and returns for deletion, the sealed segments that end at or below `offset`.
    fn take_segments_below(&mut self, offset: i64) -> Vec<Segment> {
        let active_base = self.active_base();
        let doomed: Vec<i64> = self
            .segments
            .iter()
            .take_while(|(base, s)| **base != active_base && s.next_offset() <= offset)
            .map(|(base, _)| *base)
            .collect();
        doomed
            .iter()
            .filter_map(|b| self.segments.remove(b))
            .collect()
    }

    /// Removes producer snapshots taken after `offset` (they describe data no longer in the log).
    pub(super) fn drop_snapshots_after(
        &mut self,
        ops: &dyn FileOps,
        dir: &Path,
        offset: i64,
    ) -> io::Result<()> {
        let doomed: Vec<i64> = self.snapshots.range(offset + 1..).copied().collect();
        for o in doomed {
            ops.remove_file(&dir.join(snapshot_file_name(o)))?;
            self.snapshots.remove(&o);
        }
        Ok(())
    }

    /// Rebuilds the producer state: the newest readable snapshot at or below the log end, then
    /// every batch header after it. Blocking; opens (and closes again) the segments it reads.
    pub(super) fn load_producers(
        &mut self,
        ops: &dyn FileOps,
        dir: &Path,
        now_ms: i64,
    ) -> io::Result<()> {
        let mut table = ProducerStateTable::default();
        let mut from = self.start_offset;
        for offset in self.snapshots.range(..=self.next_offset).rev() {
            let path = dir.join(snapshot_file_name(*offset));
            let loaded = fileio::read_small_file(ops, &path, 1 << 30).and_then(|bytes| {
                let bytes = bytes.unwrap_or_default();
                ProducerStateTable::decode(&bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            });
            match loaded {
                Ok(t) => {
                    table = t;
                    from = from.max(*offset);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    warn!(file = %path.display(), error = %e, "ignoring an unreadable producer snapshot");
                }
                Err(e) => return Err(e),
            }
        }
        if from < self.next_offset {
            self.for_each_header_from(ops, from, |header| {
                if header.next_offset() > from {
                    table.replay(header, now_ms);
                }
            })?;
        }
        self.producers = table;
        Ok(())
    }

    /// Visits the header of every batch ending at or after `from`, opening closed segments in place
    /// (and closing them again). Blocking: for loading and truncation only.
    pub(super) fn for_each_header_from(
        &mut self,
        ops: &dyn FileOps,
        from: i64,
        mut visit: impl FnMut(&BatchHeader),
    ) -> io::Result<()> {
        let config = Arc::clone(&self.config);
        let first = self.base_holding(from);
        let bases: Vec<i64> = self.segments.range(first..).map(|(b, _)| *b).collect();
        for base in bases {
            let Some(segment) = self.segments.get_mut(&base) else {
                continue;
            };
            if segment.is_empty() {
                continue;
            }
            let was_open = segment.is_open();
            if !was_open {
                segment.open(ops, &config)?;
            }
            segment.for_each_header(ops, &config, from, &mut visit)?;
            if !was_open && let Some(files) = segment.take_files() {
                files.close(ops)?;
            }
        }
        Ok(())
    }
}

/// The producer snapshots in a partition directory, by offset.
pub(super) fn snapshot_offsets(dir: &Path) -> io::Result<BTreeSet<i64>> {
    let mut offsets = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(offset) = entry
            .file_name()
            .to_str()
            .and_then(producer_state::parse_snapshot_file_name)
        {
            offsets.insert(offset);
        }
    }
    Ok(offsets)
}
