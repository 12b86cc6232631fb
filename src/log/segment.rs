//! One segment of a partition log: `<base offset>.log` with its `.index` and `.timeindex`.
//!
//! File names are the segment's base offset (the first offset it may hold) as 20 zero-padded digits.
//! The `.log` file holds record batches back to back, exactly as they were appended. Only the last
//! ("active") segment of a log takes appends; its index files are preallocated and mapped writable.
//! Older segments are sealed: indexes trimmed and read-only.
//!
//! Files are opened lazily, on the first read or append, and sealed segments can be closed again
//! when idle, so a broker with many partitions holds handles only for the segments in use. Opening
//! checks the index files against the log and rebuilds them from the log when they are missing or
//! do not fit.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::config::LogConfig;
use super::offset_index::OffsetIndex;
use super::recovery::{self, ScanReport};
use super::time_index::TimeIndex;
use crate::record::FileRegion;
use crate::record::batch::{BatchHeader, HEADER_LEN};

/// The name of a segment file: base offset as 20 digits plus `suffix` (".log", ".index" ...).
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

struct SegmentFiles {
    log: Arc<File>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

/// What a read found in one segment.
#[derive(Debug, Clone)]
pub struct SegmentRead {
    pub region: FileRegion,
    /// Base offset of the first batch in the region.
    pub first_offset: i64,
    /// The offset after the last batch in the region.
    pub next_offset: i64,
}

pub struct Segment {
    base_offset: i64,
    dir: PathBuf,
    /// Bytes of whole batches in the `.log` file.
    size: u64,
    /// The offset after the last batch (the base offset when empty).
    next_offset: i64,
    active: bool,
    files: Option<SegmentFiles>,
    /// Bytes appended since the last index entry.
    bytes_since_index_entry: usize,
    /// Largest batch max timestamp seen and the last offset of that batch; -1 when none.
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch, which `segment.ms` counts from.
    first_batch_timestamp: Option<i64>,
    /// When this process created or loaded the segment (ms since the epoch).
    created_ms: i64,
    /// Where the previous read ended, so a consumer reading on needs no index lookup.
    read_hint: Option<(i64, u64)>,
    last_used: Instant,
}

impl Segment {
    /// Creates a new, empty active segment.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> io::Result<Self> {
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(file_name(base_offset, ".log")))?;
        let files = SegmentFiles {
            log: Arc::new(log),
            offset_index: OffsetIndex::create(
                &dir.join(file_name(base_offset, ".index")),
                base_offset,
                config.segment_index_bytes,
            )?,
            time_index: TimeIndex::create(
                &dir.join(file_name(base_offset, ".timeindex")),
                base_offset,
                config.segment_index_bytes,
            )?,
        };
        Ok(Segment {
            files: Some(files),
            ..Self::unopened(dir, base_offset, 0, base_offset, true, now_ms)
        })
    }

    /// A segment found on disk, with nothing opened yet. `next_offset` is a placeholder until the
    /// log sets it or [`Segment::load_tail`] / [`Segment::recover`] finds it.
    pub fn found(dir: &Path, base_offset: i64, size: u64, now_ms: i64) -> Self {
        Self::unopened(dir, base_offset, size, base_offset, false, now_ms)
    }

    fn unopened(
        dir: &Path,
        base_offset: i64,
        size: u64,
        next_offset: i64,
        active: bool,
        now_ms: i64,
    ) -> Self {
        Segment {
            base_offset,
            dir: dir.to_path_buf(),
            size,
            next_offset,
            active,
            files: None,
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_timestamp: None,
            created_ms: now_ms,
            read_hint: None,
            last_used: Instant::now(),
        }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn last_used(&self) -> Instant {
        self.last_used
    }

    fn path(&self, suffix: &str) -> PathBuf {
        self.dir.join(file_name(self.base_offset, suffix))
    }

    /// Sets where a sealed segment ends (the next segment's base offset).
    pub fn set_sealed_next_offset(&mut self, next_offset: i64) {
        self.next_offset = next_offset;
    }

    fn open_log_file(&self) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path(".log"))
    }

    /// Opens the files if they are closed, checking the indexes and rebuilding them if needed.
    fn files(&mut self, config: &LogConfig) -> io::Result<&mut SegmentFiles> {
        self.last_used = Instant::now();
        if self.files.is_none() {
            let log = Arc::new(self.open_log_file()?);
            let opened = match self.open_sealed_indexes() {
                Ok(indexes) => {
                    let (offset_index, time_index) = indexes;
                    self.adopt_indexes(log, offset_index, time_index, config)?
                }
                Err(reason) => {
                    info!(segment = %self.path(".log").display(), %reason, "rebuilding indexes");
                    self.rebuild(log, config, false)?.0
                }
            };
            self.files = Some(opened);
        }
        Ok(self
            .files
            .as_mut()
            .expect("segment files were opened above"))
    }

    fn open_sealed_indexes(&self) -> Result<(OffsetIndex, TimeIndex), String> {
        let offset_index = OffsetIndex::open_sealed(&self.path(".index"), self.base_offset)
            .map_err(|e| format!("offset index: {e}"))?;
        let time_index = TimeIndex::open_sealed(&self.path(".timeindex"), self.base_offset)
            .map_err(|e| format!("time index: {e}"))?;
        let next = if self.active || self.next_offset == self.base_offset {
            i64::MAX
        } else {
            self.next_offset
        };
        offset_index
            .check(self.size, next)
            .map_err(|e| format!("offset index: {e}"))?;
        time_index
            .check(next)
            .map_err(|e| format!("time index: {e}"))?;
        Ok((offset_index, time_index))
    }

    /// Takes checked sealed indexes into use: reads the first batch's timestamp, the largest
    /// timestamp, and, for the active segment, reopens them writable.
    fn adopt_indexes(
        &mut self,
        log: Arc<File>,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        config: &LogConfig,
    ) -> io::Result<SegmentFiles> {
        // A segment reopened after its files were closed still knows its largest timestamp; one
        // opened for the first time takes it from the time index (final entry written on seal).
        if self.offset_of_max_timestamp < 0
            && let Some(last) = time_index.last_entry()
        {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = last.offset;
        }
        if self.size >= HEADER_LEN as u64 {
            self.first_batch_timestamp = read_header(&log, 0, self.size)?.map(|h| h.max_timestamp);
        }
        let (offset_index, time_index) = if self.active {
            (
                offset_index.reopen_writable(config.segment_index_bytes)?,
                time_index.reopen_writable(config.segment_index_bytes)?,
            )
        } else {
            (offset_index, time_index)
        };
        Ok(SegmentFiles {
            log,
            offset_index,
            time_index,
        })
    }

    /// Scans the whole log file, writing fresh indexes. With `verify_crc` (recovery) the file is cut
    /// at the first bad batch; without it (an index rebuild) a bad batch only ends the indexing.
    fn rebuild(
        &mut self,
        log: Arc<File>,
        config: &LogConfig,
        verify_crc: bool,
    ) -> io::Result<(SegmentFiles, ScanReport)> {
        let mut offset_index = OffsetIndex::create(
            &self.path(".index"),
            self.base_offset,
            config.segment_index_bytes,
        )?;
        let mut time_index = TimeIndex::create(
            &self.path(".timeindex"),
            self.base_offset,
            config.segment_index_bytes,
        )?;
        self.bytes_since_index_entry = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.first_batch_timestamp = None;
        let mut tracker = IndexTracker::default();
        let report = recovery::scan(&log, self.base_offset, verify_crc, |header, position| {
            tracker.add(header, position, config, &mut offset_index, &mut time_index);
        })?;
        self.bytes_since_index_entry = tracker.bytes_since_index_entry;
        self.max_timestamp = tracker.max_timestamp;
        self.offset_of_max_timestamp = tracker.offset_of_max_timestamp;
        self.first_batch_timestamp = tracker.first_batch_timestamp;
        let file_len = log.metadata()?.len();
        if let Some(reason) = &report.stopped_early {
            if verify_crc {
                warn!(
                    segment = %self.path(".log").display(),
                    kept_bytes = report.valid_bytes,
                    cut_bytes = file_len - report.valid_bytes,
                    %reason,
                    "recovery truncated a torn or corrupt tail"
                );
                log.set_len(report.valid_bytes)?;
            } else {
                warn!(segment = %self.path(".log").display(), %reason, "index rebuild stopped early");
            }
        }
        self.size = if verify_crc {
            report.valid_bytes
        } else {
            file_len
        };
        if let Some(next) = report.next_offset
            && (verify_crc || self.active)
        {
            self.next_offset = next;
        }
        if !self.active {
            if self.offset_of_max_timestamp >= 0 {
                time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            }
            offset_index.seal()?;
            time_index.seal()?;
        }
        Ok((
            SegmentFiles {
                log,
                offset_index,
                time_index,
            },
            report,
        ))
    }

    /// Recovery after an unclean stop: checks every batch's CRC, cuts the file at the first bad
    /// byte and rebuilds the indexes. Returns the bytes cut off.
    pub fn recover(&mut self, config: &LogConfig) -> io::Result<u64> {
        self.files = None;
        let log = Arc::new(self.open_log_file()?);
        let len_before = log.metadata()?.len();
        let (files, report) = self.rebuild(log, config, true)?;
        self.files = Some(files);
        if report.batches == 0 {
            self.next_offset = self.base_offset;
        }
        self.read_hint = None;
        Ok(len_before - report.valid_bytes)
    }

    /// Opens the active segment after a clean stop and finds its end: scans from the last index
    /// entry to the end of the file. A torn tail found there (which a clean stop should not leave) is
    /// cut off with a warning.
    pub fn load_tail(&mut self, config: &LogConfig) -> io::Result<()> {
        self.active = true;
        self.size = self.path_len(".log")?;
        self.files(config)?;
        let start = self
            .files
            .as_ref()
            .and_then(|f| f.offset_index.last_entry())
            .map_or(0, |e| u64::from(e.position));
        let mut position = start;
        let mut next = None;
        while position < self.size {
            let log = &self.files.as_ref().expect("opened above").log;
            match read_header(log, position, self.size)? {
                Some(h) => {
                    if h.max_timestamp > self.max_timestamp {
                        self.max_timestamp = h.max_timestamp;
                        self.offset_of_max_timestamp = h.last_offset();
                    }
                    next = Some(h.next_offset());
                    position += h.total_size() as u64;
                }
                None => break,
            }
        }
        if position < self.size {
            warn!(segment = %self.path(".log").display(), cut_bytes = self.size - position,
                "active segment had a partial batch after a clean stop; cutting it");
            self.files
                .as_ref()
                .expect("opened above")
                .log
                .set_len(position)?;
            self.size = position;
        }
        self.bytes_since_index_entry = (self.size - start) as usize;
        self.next_offset = next.unwrap_or(self.base_offset);
        Ok(())
    }

    fn path_len(&self, suffix: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.path(suffix))?.len())
    }

    /// Whether appending a batch of `batch_size` bytes, max timestamp `max_timestamp` and last
    /// offset `last_offset` needs a new segment first.
    pub fn should_roll(
        &self,
        config: &LogConfig,
        batch_size: usize,
        max_timestamp: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> bool {
        if self.size == 0 {
            return false;
        }
        let age = match self.first_batch_timestamp {
            Some(first) if first >= 0 && max_timestamp >= 0 => max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        };
        let indexes_full = self
            .files
            .as_ref()
            .is_some_and(|f| f.offset_index.is_full() || f.time_index.is_full());
        self.size + batch_size as u64 > config.segment_bytes
            || self.size + batch_size as u64 > u64::from(u32::MAX)
            || age > config.segment_ms
            || indexes_full
            || last_offset - self.base_offset > i64::from(i32::MAX)
    }

    /// Appends one batch: `parts` are its bytes (a patched header, then the rest), `header` its
    /// header as written.
    pub fn append(
        &mut self,
        config: &LogConfig,
        header: &BatchHeader,
        parts: &[&[u8]],
    ) -> io::Result<()> {
        let position = self.size;
        let files = self.files(config)?;
        if let Err(e) = write_all_at(&files.log, parts, position) {
            // Leave no partial batch behind for readers or for recovery to find.
            if let Err(cut) = files.log.set_len(position) {
                warn!(error = %cut, "could not cut a failed append back off the segment");
            }
            return Err(e);
        }
        let files = self.files.as_mut().expect("opened above");
        let mut tracker = IndexTracker {
            bytes_since_index_entry: self.bytes_since_index_entry,
            max_timestamp: self.max_timestamp,
            offset_of_max_timestamp: self.offset_of_max_timestamp,
            first_batch_timestamp: self.first_batch_timestamp,
        };
        tracker.add(
            header,
            position,
            config,
            &mut files.offset_index,
            &mut files.time_index,
        );
        self.bytes_since_index_entry = tracker.bytes_since_index_entry;
        self.max_timestamp = tracker.max_timestamp;
        self.offset_of_max_timestamp = tracker.offset_of_max_timestamp;
        self.first_batch_timestamp = tracker.first_batch_timestamp;
        self.size += header.total_size() as u64;
        self.next_offset = header.next_offset();
        Ok(())
    }

    /// Finds the batch holding `offset`, or the first batch after it: its position and header.
    fn locate(
        &mut self,
        config: &LogConfig,
        offset: i64,
    ) -> io::Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let size = self.size;
        let hint = self.read_hint;
        let files = self.files(config)?;
        if let Some((hint_offset, hint_position)) = hint
            && hint_offset == offset
            && let Some(h) = read_header(&files.log, hint_position, size)?
            && h.base_offset <= offset
            && offset <= h.last_offset()
        {
            return Ok(Some((hint_position, h)));
        }
        let mut position = u64::from(files.offset_index.lookup(offset).position);
        // The index entry lies within about one index interval of the target: one read of that
        // span usually covers every header on the way.
        let mut scanner =
            HeaderScanner::new(&files.log, size, config.index_interval_bytes + HEADER_LEN);
        while let Some(h) = scanner.header_at(position)? {
            if h.last_offset() >= offset {
                return Ok(Some((position, h)));
            }
            position += h.total_size() as u64;
        }
        Ok(None)
    }

    /// Reads whole batches starting with the one that holds `offset`: at most `max_bytes` of them
    /// (at least one when `min_one`), none at or past `upper_bound`.
    pub fn read(
        &mut self,
        config: &LogConfig,
        offset: i64,
        max_bytes: u64,
        upper_bound: i64,
        min_one: bool,
    ) -> io::Result<Option<SegmentRead>> {
        let Some((start, first)) = self.locate(config, offset)? else {
            return Ok(None);
        };
        if first.base_offset >= upper_bound {
            return Ok(None);
        }
        let size = self.size;
        let (end, next_offset) = if upper_bound >= self.next_offset && size - start <= max_bytes {
            (size, self.next_offset)
        } else {
            let limit = start.saturating_add(max_bytes);
            let bounded = upper_bound < self.next_offset;
            let files = self.files(config)?;
            // Jump over batches that an index entry proves to fit: those before an entry whose
            // position is within the byte budget and whose offset is below the upper bound.
            let by_bytes = files
                .offset_index
                .floor_by_position(limit.min(u64::from(u32::MAX)) as u32);
            let by_offset = bounded.then(|| files.offset_index.lookup(upper_bound - 1).position);
            let mut position = start;
            let mut header = first;
            let mut scanner = HeaderScanner::new(&files.log, size, SCAN_CHUNK);
            if let Some(entry) = by_bytes {
                let jump = u64::from(entry.position.min(by_offset.unwrap_or(u32::MAX)));
                if jump > start
                    && let Some(h) = scanner.header_at(jump)?
                {
                    position = jump;
                    header = h;
                }
            }
            let next;
            loop {
                let end = position + header.total_size() as u64;
                let first_batch = position == start;
                if header.base_offset >= upper_bound || (end > limit && !(first_batch && min_one)) {
                    // Offsets are dense: the region ends where this batch begins.
                    next = header.base_offset;
                    break;
                }
                position = end;
                if position >= limit {
                    next = header.next_offset();
                    break;
                }
                match scanner.header_at(position)? {
                    Some(h) => header = h,
                    None => {
                        next = header.next_offset();
                        break;
                    }
                }
            }
            (position, next)
        };
        if end == start {
            return Ok(None);
        }
        self.read_hint = Some((next_offset, end));
        let files = self.files(config)?;
        Ok(Some(SegmentRead {
            region: FileRegion {
                file: Arc::clone(&files.log),
                position: start,
                len: end - start,
            },
            first_offset: first.base_offset,
            next_offset,
        }))
    }

    /// The first batch whose max timestamp is at or after `timestamp`, with its bytes.
    pub fn find_by_timestamp(
        &mut self,
        config: &LogConfig,
        timestamp: i64,
    ) -> io::Result<Option<(BatchHeader, Vec<u8>)>> {
        let size = self.size;
        let base = self.base_offset;
        let files = self.files(config)?;
        let from = files
            .time_index
            .lookup(timestamp)
            .map_or(base, |e| e.offset);
        let mut position = u64::from(files.offset_index.lookup(from).position);
        let mut scanner =
            HeaderScanner::new(&files.log, size, config.index_interval_bytes + HEADER_LEN);
        while let Some(h) = scanner.header_at(position)? {
            if h.max_timestamp >= timestamp {
                let mut bytes = vec![0u8; h.total_size()];
                files.log.read_exact_at(&mut bytes, position)?;
                return Ok(Some((h, bytes)));
            }
            position += h.total_size() as u64;
        }
        Ok(None)
    }

    /// The bytes of the batch holding `offset`.
    pub fn batch_at(
        &mut self,
        config: &LogConfig,
        offset: i64,
    ) -> io::Result<Option<(BatchHeader, Vec<u8>)>> {
        let Some((position, h)) = self.locate(config, offset)? else {
            return Ok(None);
        };
        let files = self.files(config)?;
        let mut bytes = vec![0u8; h.total_size()];
        files.log.read_exact_at(&mut bytes, position)?;
        Ok(Some((h, bytes)))
    }

    /// The largest timestamp in the segment and the last offset of the batch carrying it, or
    /// `None` for an empty segment.
    pub fn max_timestamp(&mut self, config: &LogConfig) -> io::Result<Option<(i64, i64)>> {
        if self.size == 0 {
            return Ok(None);
        }
        self.files(config)?;
        Ok((self.offset_of_max_timestamp >= 0)
            .then_some((self.max_timestamp, self.offset_of_max_timestamp)))
    }

    /// The newest timestamp for retention, without keeping files open: the in-memory value when
    /// open, else the time index's last entry, else the log file's modification time.
    pub fn largest_timestamp_for_retention(&self) -> io::Result<i64> {
        if self.files.is_some() && self.max_timestamp >= 0 {
            return Ok(self.max_timestamp);
        }
        let time_index = self.path(".timeindex");
        if let Ok(file) = File::open(&time_index) {
            let len = file.metadata()?.len();
            if len >= 12 && len % 12 == 0 {
                let mut ts = [0u8; 8];
                file.read_exact_at(&mut ts, len - 12)?;
                let ts = i64::from_be_bytes(ts);
                if ts >= 0 {
                    return Ok(ts);
                }
            }
        }
        let modified = std::fs::metadata(self.path(".log"))?.modified()?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64))
    }

    /// Removes every batch at or after the one holding `offset`. Returns the new next offset.
    pub fn truncate_to(&mut self, config: &LogConfig, offset: i64) -> io::Result<i64> {
        let Some((position, h)) = self.locate(config, offset)? else {
            return Ok(self.next_offset);
        };
        let files = self.files(config)?;
        files.log.set_len(position)?;
        files.offset_index.truncate_to(h.base_offset);
        files.time_index.truncate_to(h.base_offset);
        self.size = position;
        self.next_offset = h.base_offset;
        self.read_hint = None;
        self.recompute_tail_state(config)?;
        Ok(self.next_offset)
    }

    /// Recomputes the append bookkeeping by scanning from the last index entry to the end.
    fn recompute_tail_state(&mut self, config: &LogConfig) -> io::Result<()> {
        let size = self.size;
        let files = self.files(config)?;
        let last_time = files.time_index.last_entry();
        let start = files
            .offset_index
            .last_entry()
            .map_or(0, |e| u64::from(e.position));
        let (mut max_ts, mut max_ts_offset) =
            last_time.map_or((-1, -1), |e| (e.timestamp, e.offset));
        let mut position = start;
        while let Some(h) = read_header(&files.log, position, size)? {
            if h.max_timestamp > max_ts {
                max_ts = h.max_timestamp;
                max_ts_offset = h.last_offset();
            }
            position += h.total_size() as u64;
        }
        let first = if size > 0 {
            read_header(&files.log, 0, size)?.map(|h| h.max_timestamp)
        } else {
            None
        };
        self.max_timestamp = max_ts;
        self.offset_of_max_timestamp = max_ts_offset;
        self.bytes_since_index_entry = (size - start) as usize;
        self.first_batch_timestamp = first;
        Ok(())
    }

    /// Makes a sealed segment the active one again (after a truncation removed later segments).
    pub fn reactivate(&mut self, config: &LogConfig) -> io::Result<()> {
        if self.active {
            return Ok(());
        }
        self.active = true;
        // Reopening goes through `files`, which maps the indexes writable for an active segment.
        self.files = None;
        self.files(config)?;
        self.recompute_tail_state(config)
    }

    /// Stops appends to this segment: records the final time index entry and trims both indexes.
    pub fn seal(&mut self, config: &LogConfig) -> io::Result<()> {
        // Open even if idle: the final entry is what later loads read the largest timestamp from.
        let (max_timestamp, offset) = (self.max_timestamp, self.offset_of_max_timestamp);
        let files = self.files(config)?;
        if offset >= 0 {
            files.time_index.maybe_append(max_timestamp, offset);
        }
        files.offset_index.seal()?;
        files.time_index.seal()?;
        self.active = false;
        Ok(())
    }

    /// The open log file, for an fdatasync outside the log's lock.
    pub fn open_log_file_handle(&self) -> Option<Arc<File>> {
        self.files.as_ref().map(|f| Arc::clone(&f.log))
    }

    /// Writes dirty index pages (not needed for durability: indexes are rebuilt on recovery).
    pub fn flush_indexes(&self) -> io::Result<()> {
        if let Some(files) = &self.files {
            files.offset_index.flush()?;
            files.time_index.flush()?;
        }
        Ok(())
    }

    /// Marks the segment as the one that takes appends (before recovery rebuilds its indexes).
    pub fn set_active(&mut self) {
        self.active = true;
    }

    /// Drops the file handles; regions already handed out stay readable. The active segment's
    /// indexes are trimmed first, so that reopening finds exactly its entries.
    pub fn close_files(&mut self) {
        if let Some(mut files) = self.files.take()
            && self.active
            && let Err(e) = files
                .offset_index
                .seal()
                .and_then(|()| files.time_index.seal())
        {
            warn!(segment = %self.path(".log").display(), error = %e, "could not trim indexes on close");
        }
    }

    pub fn is_open(&self) -> bool {
        self.files.is_some()
    }

    /// Removes the segment's files. Regions already handed out stay readable.
    pub fn delete(mut self) -> io::Result<()> {
        self.files = None;
        for suffix in [".log", ".index", ".timeindex"] {
            match std::fs::remove_file(self.path(suffix)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The index bookkeeping shared by appends and rebuilds, so that both place entries identically.
struct IndexTracker {
    bytes_since_index_entry: usize,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    first_batch_timestamp: Option<i64>,
}

impl Default for IndexTracker {
    fn default() -> Self {
        IndexTracker {
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_timestamp: None,
        }
    }
}

impl IndexTracker {
    fn add(
        &mut self,
        header: &BatchHeader,
        position: u64,
        config: &LogConfig,
        offset_index: &mut OffsetIndex,
        time_index: &mut TimeIndex,
    ) {
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(header.max_timestamp);
        }
        if header.max_timestamp > self.max_timestamp || self.offset_of_max_timestamp < 0 {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.last_offset();
        }
        if self.bytes_since_index_entry > config.index_interval_bytes {
            // A full index makes the next append roll, so a refused entry here is harmless.
            offset_index.append(header.last_offset(), position as u32);
            time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += header.total_size();
    }
}

/// How much a forward scan of batch headers reads at once.
const SCAN_CHUNK: usize = 4096 + HEADER_LEN;

/// Reads batch headers forward through a segment file, `chunk` bytes per system call, so that a
/// run of small batches costs one read instead of one per header.
struct HeaderScanner<'a> {
    file: &'a File,
    size: u64,
    chunk: usize,
    buf: [u8; SCAN_CHUNK],
    buf_start: u64,
    buf_len: usize,
}

impl<'a> HeaderScanner<'a> {
    fn new(file: &'a File, size: u64, chunk: usize) -> Self {
        HeaderScanner {
            file,
            size,
            chunk: chunk.clamp(HEADER_LEN, SCAN_CHUNK),
            buf: [0u8; SCAN_CHUNK],
            buf_start: 0,
            buf_len: 0,
        }
    }

    /// The header of the whole batch at `position`, or `None` if no whole batch starts there.
    fn header_at(&mut self, position: u64) -> io::Result<Option<BatchHeader>> {
        if position + HEADER_LEN as u64 > self.size {
            return Ok(None);
        }
        let cached = position >= self.buf_start
            && position + HEADER_LEN as u64 <= self.buf_start + self.buf_len as u64;
        if !cached {
            let len = (self.size - position).min(self.chunk as u64) as usize;
            self.file.read_exact_at(&mut self.buf[..len], position)?;
            self.buf_start = position;
            self.buf_len = len;
        }
        let at = (position - self.buf_start) as usize;
        match BatchHeader::parse(&self.buf[at..self.buf_len]) {
            Ok(h) if position + h.total_size() as u64 <= self.size => Ok(Some(h)),
            _ => Ok(None),
        }
    }
}

/// Reads the header of the batch at `position`, or `None` if no whole batch starts there.
fn read_header(log: &File, position: u64, size: u64) -> io::Result<Option<BatchHeader>> {
    if position + HEADER_LEN as u64 > size {
        return Ok(None);
    }
    let mut buf = [0u8; HEADER_LEN];
    log.read_exact_at(&mut buf, position)?;
    match BatchHeader::parse(&buf) {
        Ok(h) if position + h.total_size() as u64 <= size => Ok(Some(h)),
        _ => Ok(None),
    }
}

/// Writes all of `parts` at `position`, one `pwritev` per attempt, resuming after short writes.
fn write_all_at(file: &File, parts: &[&[u8]], mut position: u64) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    let mut first = 0;
    while first < parts.len() {
        let slices: Vec<IoSlice<'_>> = parts[first..].iter().map(|p| IoSlice::new(p)).collect();
        let written = match nix::sys::uio::pwritev(file, &slices, position as i64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "pwritev wrote nothing",
                ));
            }
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        position += written as u64;
        let mut left = written;
        while first < parts.len() && left >= parts[first].len() {
            left -= parts[first].len();
            first += 1;
        }
        if left > 0 {
            parts[first] = &parts[first][left..];
        }
    }
    Ok(())
}
