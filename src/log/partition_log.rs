//! The log of one partition: an ordered run of segments with dense, increasing offsets, one writer at
//! a time and concurrent readers.
//!
//! A partition directory `<topic>-<partition>/` holds the segments. The offsets a log tracks:
//! - log start offset: the first offset readers may ask for (raised by retention and DeleteRecords);
//! - log end offset (LEO): the offset the next appended record gets;
//! - recovery point: every offset below it is fsynced, so recovery after a crash starts there.
//!
//! All state sits behind one mutex held only for in-memory work and page-cache writes; fsync runs
//! outside it (see [`Log::flush`] and the group commit in [`Log::flush_up_to`]). Readers get file
//! regions they can send after the lock is released.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tracing::{info, warn};

use super::checkpoint::sync_dir;
use super::config::{LogConfig, TimestampType};
use super::retention::{self, RetentionPolicy, SegmentInfo};
use super::segment::{Segment, SegmentRead};
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

struct LogState {
    config: Arc<LogConfig>,
    /// Segments by base offset; never empty, the last one is active.
    segments: BTreeMap<i64, Segment>,
    start_offset: i64,
    next_offset: i64,
    recovery_point: i64,
    /// A segment file was created since the directory was last fsynced.
    dir_dirty: bool,
    /// Bumped by every truncation, so a flush that raced one does not move the recovery point.
    truncations: u64,
}

pub struct Log {
    dir: PathBuf,
    topic: String,
    partition: i32,
    state: Mutex<LogState>,
    /// Serialises fsyncs: waiters queue here and usually find their data already synced.
    flush_lock: tokio::sync::Mutex<()>,
    end_offset: AtomicI64,
    start_offset: AtomicI64,
    recovery_point: AtomicI64,
    flushes: AtomicU64,
}

fn segment_bases(dir: &Path) -> io::Result<Vec<(i64, u64)>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".log")
            && stem.len() == 20
            && let Ok(base) = stem.parse::<i64>()
        {
            bases.push((base, entry.metadata()?.len()));
        } else if name.ends_with(".deleted")
            || name.ends_with(".cleaned")
            || name.ends_with(".swap")
        {
            fs::remove_file(entry.path())?;
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

impl Log {
    /// Creates an empty log in `dir` (created if missing) starting at `start_offset`.
    pub fn create(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        start_offset: i64,
        now_ms: i64,
    ) -> io::Result<Log> {
        fs::create_dir_all(dir)?;
        let segment = Segment::create(dir, start_offset, &config, now_ms)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        sync_dir(dir)?;
        let mut segments = BTreeMap::new();
        segments.insert(start_offset, segment);
        Ok(Self::from_state(
            dir,
            topic,
            partition,
            LogState {
                config: Arc::new(config),
                segments,
                start_offset,
                next_offset: start_offset,
                recovery_point: start_offset,
                dir_dirty: false,
                truncations: 0,
            },
        ))
    }

    /// Loads the log in `dir`, recovering it first after an unclean stop.
    pub fn open(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        options: LoadOptions,
    ) -> io::Result<Log> {
        let found = segment_bases(dir)?;
        if found.is_empty() {
            let start = options.log_start_offset.unwrap_or(0).max(0);
            return Self::create(dir, topic, partition, config, start, options.now_ms);
        }
        let mut segments: BTreeMap<i64, Segment> = BTreeMap::new();
        for (i, (base, size)) in found.iter().enumerate() {
            let mut segment = Segment::found(dir, *base, *size, options.now_ms);
            if let Some((next_base, _)) = found.get(i + 1) {
                segment.set_sealed_next_offset(*next_base);
            }
            segments.insert(*base, segment);
        }
        let mut recovery_point = options.recovery_point;
        if options.clean_shutdown {
            if let Some((_, active)) = segments.iter_mut().next_back() {
                active.load_tail(&config)?;
                active.close_files();
            }
        } else {
            recovery_point = Self::recover(dir, &mut segments, &config, options.recovery_point)?;
        }
        let first_base = *segments.keys().next().unwrap_or(&0);
        let next_offset = segments
            .values()
            .next_back()
            .map_or(first_base, Segment::next_offset);
        let start_offset = options
            .log_start_offset
            .unwrap_or(first_base)
            .max(first_base)
            .min(next_offset);
        Ok(Self::from_state(
            dir,
            topic,
            partition,
            LogState {
                config: Arc::new(config),
                segments,
                start_offset,
                next_offset,
                recovery_point: recovery_point.min(next_offset),
                dir_dirty: false,
                truncations: 0,
            },
        ))
    }

    /// Recovery: every segment holding offsets at or above the recovery point is scanned with CRC
    /// checks; a segment cut short takes all later segments with it. Returns the recovery point to
    /// keep (offsets below it were already durable).
    fn recover(
        dir: &Path,
        segments: &mut BTreeMap<i64, Segment>,
        config: &LogConfig,
        recovery_point: i64,
    ) -> io::Result<i64> {
        let bases: Vec<i64> = segments.keys().copied().collect();
        let last_base = *bases.last().unwrap_or(&0);
        // The segment holding the recovery point and every later one.
        let first_unflushed = bases
            .iter()
            .rposition(|b| *b <= recovery_point)
            .unwrap_or(0);
        let mut cut_from: Option<usize> = None;
        for (i, base) in bases.iter().enumerate().skip(first_unflushed) {
            let Some(segment) = segments.get_mut(base) else {
                continue;
            };
            if *base == last_base {
                segment.set_active();
            }
            let expected_next = bases.get(i + 1).copied();
            let cut = segment.recover(config)?;
            let ends_short = expected_next.is_some_and(|next| segment.next_offset() != next);
            if cut > 0 || ends_short {
                if cut > 0 {
                    info!(dir = %dir.display(), segment = base, cut_bytes = cut, "recovered segment");
                }
                if expected_next.is_some() {
                    cut_from = Some(i + 1);
                    break;
                }
            }
            segment.close_files();
        }
        if let Some(first_removed) = cut_from {
            for base in &bases[first_removed..] {
                if let Some(segment) = segments.remove(base) {
                    warn!(dir = %dir.display(), segment = base, "removing segment after a truncated one");
                    segment.delete()?;
                }
            }
            if let Some((_, last)) = segments.iter_mut().next_back() {
                last.reactivate(config)?;
            }
        }
        let next = segments
            .values()
            .next_back()
            .map_or(0, Segment::next_offset);
        Ok(recovery_point.min(next))
    }

    fn from_state(dir: &Path, topic: &str, partition: i32, state: LogState) -> Log {
        Log {
            dir: dir.to_path_buf(),
            topic: topic.to_string(),
            partition,
            end_offset: AtomicI64::new(state.next_offset),
            start_offset: AtomicI64::new(state.start_offset),
            recovery_point: AtomicI64::new(state.recovery_point),
            state: Mutex::new(state),
            flush_lock: tokio::sync::Mutex::new(()),
            flushes: AtomicU64::new(0),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
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
        self.state.lock().config = Arc::new(config);
    }

    /// Bytes in all segments.
    pub fn size_in_bytes(&self) -> u64 {
        self.state.lock().segments.values().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.state.lock().segments.len()
    }

    /// Appends a producer's record set as the partition leader: validates every batch (framing, CRC,
    /// counts, size), gives it the next offsets and `leader_epoch`, stamps LogAppendTime when the
    /// topic asks for it, and writes it. Nothing is written if any batch is refused.
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
        let mut state = self.state.lock();
        let config = Arc::clone(&state.config);
        for (header, range) in batches {
            batch::validate_client_batch(header)?;
            if range.len() > config.max_message_bytes {
                return Err(LogError::TooLarge {
                    size: range.len(),
                    max: config.max_message_bytes,
                });
            }
        }
        let log_append_time =
            (config.timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let first_offset = state.next_offset;
        for (header, range) in batches {
            let bytes = &records[range.clone()];
            let base_offset = state.next_offset;
            let patch = PatchedHeader::new(bytes, base_offset, leader_epoch, log_append_time);
            let written = BatchHeader {
                base_offset,
                partition_leader_epoch: leader_epoch,
                max_timestamp: log_append_time.unwrap_or(header.max_timestamp),
                ..*header
            };
            let patched = patch.bytes();
            state.append_batch(
                &self.dir,
                &written,
                &[patched, &bytes[patched.len()..]],
                now_ms,
            )?;
        }
        self.end_offset.store(state.next_offset, Ordering::Release);
        Ok(AppendInfo {
            first_offset,
            last_offset: state.next_offset - 1,
            log_append_time: log_append_time.unwrap_or(-1),
            bytes: records.len(),
        })
    }

    /// Appends batches that already carry their offsets (a follower copying its leader). The first
    /// batch must start exactly at the log end offset and each must follow the previous one.
    pub fn append_as_follower(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, LogError> {
        let batches = batch::split_record_set(records)?;
        let mut state = self.state.lock();
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
        let first_offset = state.next_offset;
        for (header, range) in &batches {
            state.append_batch(&self.dir, header, &[&records[range.clone()]], now_ms)?;
        }
        self.end_offset.store(state.next_offset, Ordering::Release);
        Ok(AppendInfo {
            first_offset,
            last_offset: state.next_offset - 1,
            log_append_time: -1,
            bytes: records.len(),
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
        let mut state = self.state.lock();
        if offset < state.start_offset || offset > state.next_offset {
            return Err(Self::out_of_range(&state, offset));
        }
        if offset >= upper_bound.min(state.next_offset) {
            return Ok(None);
        }
        let config = Arc::clone(&state.config);
        let from = state
            .segments
            .range(..=offset)
            .next_back()
            .map_or(offset, |(b, _)| *b);
        for (_, segment) in state.segments.range_mut(from..) {
            if let Some(read) = segment.read(&config, offset, max_bytes, upper_bound, min_one)? {
                return Ok(Some(read));
            }
        }
        Ok(None)
    }

    /// Visits every record from the log start on, in offset order. For the broker's own internal
    /// topics (cluster metadata, group offsets), which it writes uncompressed: a batch whose records
    /// cannot be decoded is an error. Returns how many records were visited.
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
                .map_err(|e| io::Error::other(format!("reading {}: {e}", self.dir.display())))?;
            let Some(read) = read else { return Ok(count) };
            let mut bytes = vec![0u8; read.region.len as usize];
            read.region
                .file
                .read_exact_at(&mut bytes, read.region.position)?;
            let batches = batch::split_record_set(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.dir.display()),
                )
            })?;
            for (_, range) in batches {
                let records = batch::decode_records(&bytes[range]).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: undecodable batch", self.dir.display()),
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
        let mut state = self.state.lock();
        let config = Arc::clone(&state.config);
        let start_offset = state.start_offset;
        for segment in state.segments.values_mut() {
            if segment.next_offset() <= start_offset {
                continue;
            }
            match segment.max_timestamp(&config)? {
                Some((max, _)) if max >= timestamp => {}
                _ => continue,
            }
            let Some((header, bytes)) = segment.find_by_timestamp(&config, timestamp)? else {
                continue;
            };
            let found = match batch::records_by_offset(&bytes) {
                Some(records) => records
                    .into_iter()
                    .find(|(offset, ts)| *ts >= timestamp && *offset >= start_offset),
                None => Some((header.base_offset.max(start_offset), header.max_timestamp)),
            };
            return Ok(found.filter(|(offset, _)| *offset < upper_bound));
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the first such) below `upper_bound`: (offset, timestamp).
    pub fn max_timestamp(&self, upper_bound: i64) -> Result<Option<(i64, i64)>, LogError> {
        let mut state = self.state.lock();
        let config = Arc::clone(&state.config);
        let mut best: Option<(i64, i64, i64)> = None; // (timestamp, batch last offset, segment base)
        for (base, segment) in state.segments.iter_mut() {
            if let Some((ts, offset)) = segment.max_timestamp(&config)?
                && best.is_none_or(|(best_ts, _, _)| ts > best_ts)
            {
                best = Some((ts, offset, *base));
            }
        }
        let Some((ts, offset, base)) = best else {
            return Ok(None);
        };
        let Some(segment) = state.segments.get_mut(&base) else {
            return Ok(None);
        };
        let exact = match segment.batch_at(&config, offset)? {
            Some((header, bytes)) => batch::records_by_offset(&bytes)
                .and_then(|records| records.into_iter().find(|(_, t)| *t == ts))
                .unwrap_or((header.base_offset, ts)),
            None => (offset, ts),
        };
        Ok(Some(exact).filter(|(offset, _)| *offset < upper_bound))
    }

    /// Removes every batch at or after the one holding `offset` (a follower cutting a divergent
    /// tail). Returns the new log end offset.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let mut state = self.state.lock();
        if offset >= state.next_offset {
            return Ok(state.next_offset);
        }
        let config = Arc::clone(&state.config);
        state.truncations += 1;
        let first_base = *state.segments.keys().next().unwrap_or(&0);
        if offset <= first_base {
            drop(state);
            self.truncate_fully_and_start_at(offset.max(0))?;
            return Ok(self.log_end_offset());
        }
        let doomed: Vec<i64> = state.segments.range(offset..).map(|(b, _)| *b).collect();
        for base in doomed {
            if let Some(segment) = state.segments.remove(&base) {
                segment.delete()?;
            }
        }
        let next = match state.segments.iter_mut().next_back() {
            Some((_, last)) => {
                last.reactivate(&config)?;
                last.truncate_to(&config, offset)?
            }
            None => offset,
        };
        state.next_offset = next;
        state.recovery_point = state.recovery_point.min(next);
        state.start_offset = state.start_offset.min(next);
        self.publish_offsets(&state);
        info!(topic = %self.topic, partition = self.partition, offset = next, "truncated log");
        Ok(next)
    }

    /// Drops every segment and starts an empty log at `offset`.
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let mut state = self.state.lock();
        state.truncations += 1;
        let config = Arc::clone(&state.config);
        for (_, segment) in std::mem::take(&mut state.segments) {
            segment.delete()?;
        }
        let segment = Segment::create(&self.dir, offset, &config, 0)?;
        state.segments.insert(offset, segment);
        state.next_offset = offset;
        state.start_offset = offset;
        state.recovery_point = offset;
        state.dir_dirty = true;
        self.publish_offsets(&state);
        Ok(())
    }

    /// Raises the log start offset (DeleteRecords, or retention) and deletes the segments that now
    /// lie wholly below it. Returns the log start offset in force.
    pub fn advance_log_start(&self, offset: i64) -> Result<i64, LogError> {
        let doomed = {
            let mut state = self.state.lock();
            if offset > state.next_offset {
                return Err(Self::out_of_range(&state, offset));
            }
            if offset <= state.start_offset {
                return Ok(state.start_offset);
            }
            state.start_offset = offset;
            self.publish_offsets(&state);
            state.take_segments_below(offset)
        };
        for segment in doomed {
            segment.delete()?;
        }
        Ok(offset)
    }

    /// Deletes whole old segments by `retention.ms` and `retention.bytes`, never at or above
    /// `upper_bound`, and moves the log start offset past them.
    pub fn apply_retention(
        &self,
        now_ms: i64,
        upper_bound: i64,
    ) -> Result<RetentionReport, LogError> {
        let doomed = {
            let mut state = self.state.lock();
            let mut infos = Vec::with_capacity(state.segments.len());
            for segment in state.segments.values() {
                infos.push(SegmentInfo {
                    base_offset: segment.base_offset(),
                    next_offset: segment.next_offset(),
                    size: segment.size(),
                    largest_timestamp: segment.largest_timestamp_for_retention()?,
                });
            }
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
            self.publish_offsets(&state);
            state.take_segments_below(new_start)
        };
        let mut report = RetentionReport::default();
        for segment in doomed {
            report.segments += 1;
            report.bytes += segment.size();
            segment.delete()?;
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

    /// Fsyncs everything appended so far and moves the recovery point to the log end offset it saw.
    /// Blocking: call from a blocking context. Returns the new recovery point.
    pub fn flush(&self) -> io::Result<i64> {
        let (files, target, dir_dirty, truncations) = {
            let mut state = self.state.lock();
            let target = state.next_offset;
            if state.recovery_point >= target && !state.dir_dirty {
                return Ok(state.recovery_point);
            }
            let recovery_point = state.recovery_point;
            let files: Vec<_> = state
                .segments
                .values()
                .filter(|s| s.next_offset() > recovery_point || s.is_active())
                .filter_map(Segment::open_log_file_handle)
                .collect();
            let dir_dirty = std::mem::take(&mut state.dir_dirty);
            (files, target, dir_dirty, state.truncations)
        };
        for file in &files {
            file.sync_data()?;
        }
        if dir_dirty {
            sync_dir(&self.dir)?;
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
    /// start offset past them can then delete.
    pub fn roll(&self, now_ms: i64) -> io::Result<i64> {
        let mut state = self.state.lock();
        let next = state.next_offset;
        if state
            .segments
            .values()
            .next_back()
            .is_some_and(|s| !s.is_empty())
        {
            state.roll(&self.dir, next, now_ms)?;
        }
        Ok(next)
    }

    /// Whether sealed segments hold data that is not yet fsynced (after a roll).
    pub fn has_unflushed_sealed_segments(&self) -> bool {
        let state = self.state.lock();
        let active_base = state.segments.keys().next_back().copied();
        state.recovery_point < active_base.unwrap_or(0)
    }

    /// Closes the files of segments untouched for `idle` whose data is already on disk.
    pub fn close_idle_segments(&self, idle: Duration) {
        let mut state = self.state.lock();
        let recovery_point = state.recovery_point;
        for segment in state.segments.values_mut() {
            if segment.is_open()
                && segment.last_used().elapsed() >= idle
                && segment.next_offset() <= recovery_point
            {
                segment.close_files();
            }
        }
    }

    /// Clean shutdown: fsync everything and trim the active segment's indexes.
    pub fn close(&self) -> io::Result<()> {
        self.flush()?;
        let mut state = self.state.lock();
        if let Some((_, active)) = state.segments.iter_mut().next_back() {
            active.flush_indexes()?;
            active.close_files();
        }
        Ok(())
    }
}

impl LogState {
    /// Appends one batch to the active segment, rolling first when it is due.
    fn append_batch(
        &mut self,
        dir: &Path,
        header: &BatchHeader,
        parts: &[&[u8]],
        now_ms: i64,
    ) -> Result<(), LogError> {
        let config = Arc::clone(&self.config);
        let size = header.total_size();
        let must_roll = match self.segments.values().next_back() {
            Some(active) => active.should_roll(
                &config,
                size,
                header.max_timestamp,
                header.last_offset(),
                now_ms,
            ),
            None => true,
        };
        if must_roll {
            self.roll(dir, header.base_offset, now_ms)?;
        }
        let Some((_, active)) = self.segments.iter_mut().next_back() else {
            return Err(LogError::Io(io::Error::other("log has no active segment")));
        };
        active.append(&config, header, parts)?;
        self.next_offset = header.next_offset();
        Ok(())
    }

    /// Seals the active segment and starts a new one at `base_offset`.
    fn roll(&mut self, dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<()> {
        let config = Arc::clone(&self.config);
        if let Some((_, active)) = self.segments.iter_mut().next_back() {
            active.seal(&config)?;
        }
        let segment = Segment::create(dir, base_offset, &self.config, now_ms)?;
        self.segments.insert(base_offset, segment);
        self.dir_dirty = true;
        Ok(())
    }

    /// Removes, and returns for deletion, the sealed segments that end at or below `offset`.
    fn take_segments_below(&mut self, offset: i64) -> Vec<Segment> {
        let active_base = self.segments.keys().next_back().copied().unwrap_or(0);
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
}
