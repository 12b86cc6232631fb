//! One segment of a partition log: `<base offset>.log` with its `.index` and `.timeindex`.
//!
//! File names are the segment's base offset (the first offset it may hold) as 20 zero-padded digits.
//! The `.log` file holds record batches back to back, exactly as they were appended. Only the last
//! ("active") segment of a log takes appends; its indexes are mapped writable and grow as they
//! fill. Older segments are sealed: indexes trimmed to their entries and read-only.
//!
//! A segment's files are opened lazily and closed again when idle, so a broker with many partitions
//! holds descriptors only for segments in use, and only one each: the `.log` file (the indexes are
//! memory-mapped and their descriptors closed). Opening is the slow part (it checks the indexes
//! against the log and rebuilds them when they are missing or do not fit), so the log does it on a
//! detached copy ([`Segment::detached`], [`Segment::open`]) outside its lock; every other method
//! here expects the files open and says so with an error if they are not.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use super::config::LogConfig;
use super::index_file::{self, Growth};
use super::io::{FileOps, OpenMode, Target};
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
    log_path: PathBuf,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

impl SegmentFiles {
    fn target(&self) -> Target<'_> {
        Target {
            file: &self.log,
            path: &self.log_path,
        }
    }
}

/// Files taken out of a segment to be closed outside the log's lock ([`ClosingFiles::close`]).
pub struct ClosingFiles(SegmentFiles);

impl ClosingFiles {
    /// Trims the indexes to their entries and lets go of everything. Regions already handed out
    /// stay readable.
    pub fn close(mut self, ops: &dyn FileOps) -> io::Result<()> {
        let files = &mut self.0;
        for (path, len) in [
            (
                files.offset_index.path().to_path_buf(),
                files.offset_index.seal(),
            ),
            (
                files.time_index.path().to_path_buf(),
                files.time_index.seal(),
            ),
        ] {
            index_file::trim(ops, &path, len)?;
        }
        Ok(())
    }
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

/// An index trim to make once a segment is sealed: cut the file at `path` to `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trim {
    pub path: PathBuf,
    pub len: u64,
}

fn closed() -> io::Error {
    io::Error::other("segment files are not open (the log opens them before use)")
}

pub struct Segment {
    base_offset: i64,
    dir: Arc<Path>,
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
    /// When growing an index last failed (a full disk): growth is retried only a while later.
    growth_failed_at: Option<Instant>,
}

impl Segment {
    /// Creates a new, empty active segment with its files open. On failure nothing is left behind.
    pub fn create(
        ops: &dyn FileOps,
        dir: &Arc<Path>,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> io::Result<Self> {
        let mut segment = Self::unopened(dir, base_offset, 0, base_offset, true, now_ms);
        let created = (|| {
            let log_path = segment.path(".log");
            let log = ops.open(&log_path, OpenMode::Create)?;
            Ok(SegmentFiles {
                log: Arc::new(log),
                log_path,
                offset_index: OffsetIndex::create(
                    ops,
                    &segment.path(".index"),
                    base_offset,
                    config.segment_index_bytes,
                )?,
                time_index: TimeIndex::create(
                    ops,
                    &segment.path(".timeindex"),
                    base_offset,
                    config.segment_index_bytes,
                )?,
            })
        })();
        match created {
            Ok(files) => {
                segment.files = Some(files);
                Ok(segment)
            }
            Err(e) => {
                segment.remove_files(ops);
                Err(e)
            }
        }
    }

    /// A segment found on disk, with nothing opened yet. `next_offset` is a placeholder until the
    /// log sets it or [`Segment::load_tail`] / [`Segment::recover`] finds it.
    pub fn found(dir: &Arc<Path>, base_offset: i64, size: u64, now_ms: i64) -> Self {
        Self::unopened(dir, base_offset, size, base_offset, false, now_ms)
    }

    fn unopened(
        dir: &Arc<Path>,
        base_offset: i64,
        size: u64,
        next_offset: i64,
        active: bool,
        now_ms: i64,
    ) -> Self {
        Segment {
            base_offset,
            dir: Arc::clone(dir),
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
            growth_failed_at: None,
        }
    }

    /// A copy of everything but the files, to open outside the log's lock.
    pub fn detached(&self) -> Segment {
        Segment {
            files: None,
            read_hint: None,
            ..Self::unopened(
                &self.dir,
                self.base_offset,
                self.size,
                self.next_offset,
                self.active,
                self.created_ms,
            )
        }
        .with_tail_of(self)
    }

    fn with_tail_of(mut self, other: &Segment) -> Segment {
        self.bytes_since_index_entry = other.bytes_since_index_entry;
        self.max_timestamp = other.max_timestamp;
        self.offset_of_max_timestamp = other.offset_of_max_timestamp;
        self.first_batch_timestamp = other.first_batch_timestamp;
        self
    }

    /// Whether `opened` (a detached copy, opened since) still describes this segment, so it can
    /// take this one's place.
    pub fn same_extent(&self, opened: &Segment) -> bool {
        self.base_offset == opened.base_offset
            && self.active == opened.active
            && self.files.is_none()
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

    pub fn is_open(&self) -> bool {
        self.files.is_some()
    }

    pub fn last_used(&self) -> Instant {
        self.last_used
    }

    pub fn path(&self, suffix: &str) -> PathBuf {
        self.dir.join(file_name(self.base_offset, suffix))
    }

    /// Sets where a sealed segment ends (the next segment's base offset).
    pub fn set_sealed_next_offset(&mut self, next_offset: i64) {
        self.next_offset = next_offset;
    }

    fn files(&mut self) -> io::Result<&mut SegmentFiles> {
        self.last_used = Instant::now();
        self.files.as_mut().ok_or_else(closed)
    }

    /// Opens the files, checking the indexes and rebuilding them if needed. Slow: call on a
    /// [`Segment::detached`] copy, outside the log's lock.
    pub fn open(&mut self, ops: &dyn FileOps, config: &LogConfig) -> io::Result<()> {
        if self.files.is_some() {
            return Ok(());
        }
        let log_path = self.path(".log");
        let log = Arc::new(ops.open(&log_path, OpenMode::ReadWrite)?);
        let opened = match self.open_sealed_indexes(ops) {
            Ok((offset_index, time_index)) => {
                self.adopt_indexes(ops, log, log_path, offset_index, time_index, config)?
            }
            Err(reason) => {
                info!(segment = %log_path.display(), %reason, "rebuilding indexes");
                self.rebuild(ops, log, log_path, config, false)?.0
            }
        };
        self.files = Some(opened);
        self.last_used = Instant::now();
        Ok(())
    }

    fn open_sealed_indexes(&self, ops: &dyn FileOps) -> Result<(OffsetIndex, TimeIndex), String> {
        let offset_index = OffsetIndex::open_sealed(ops, &self.path(".index"), self.base_offset)
            .map_err(|e| format!("offset index: {e}"))?;
        let time_index = TimeIndex::open_sealed(ops, &self.path(".timeindex"), self.base_offset)
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
        ops: &dyn FileOps,
        log: Arc<File>,
        log_path: PathBuf,
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
        let target = Target {
            file: &log,
            path: &log_path,
        };
        if self.size >= HEADER_LEN as u64 {
            self.first_batch_timestamp =
                read_header(ops, target, 0, self.size)?.map(|h| h.max_timestamp);
        }
        let (offset_index, time_index) = if self.active {
            (
                offset_index.reopen_writable(ops, config.segment_index_bytes)?,
                time_index.reopen_writable(ops, config.segment_index_bytes)?,
            )
        } else {
            (offset_index, time_index)
        };
        Ok(SegmentFiles {
            log,
            log_path,
            offset_index,
            time_index,
        })
    }

    /// Scans the whole log file, writing fresh indexes. With `verify_crc` (recovery) the file is cut
    /// at the first bad batch; without it (an index rebuild) a bad batch only ends the indexing.
    /// `visit` sees every valid batch.
    fn rebuild_visiting(
        &mut self,
        ops: &dyn FileOps,
        log: Arc<File>,
        log_path: PathBuf,
        config: &LogConfig,
        verify_crc: bool,
        mut visit: impl FnMut(&BatchHeader),
    ) -> io::Result<(SegmentFiles, ScanReport)> {
        let mut offset_index = OffsetIndex::create(
            ops,
            &self.path(".index"),
            self.base_offset,
            config.segment_index_bytes,
        )?;
        let mut time_index = TimeIndex::create(
            ops,
            &self.path(".timeindex"),
            self.base_offset,
            config.segment_index_bytes,
        )?;
        let mut tracker = IndexTracker::default();
        let target = Target {
            file: &log,
            path: &log_path,
        };
        let file_len = log.metadata()?.len();
        let report = recovery::scan(
            ops,
            target,
            file_len,
            self.base_offset,
            verify_crc,
            |header, position| {
                // Outside the log's lock: indexes grow inline (a failure only skips entries).
                for growth in [offset_index.growth_needed(), time_index.growth_needed()]
                    .into_iter()
                    .flatten()
                {
                    if growth.apply(ops).is_ok() {
                        offset_index.grown(&growth);
                        time_index.grown(&growth);
                    }
                }
                tracker.add(header, position, config, &mut offset_index, &mut time_index);
                visit(header);
            },
        )?;
        self.bytes_since_index_entry = tracker.bytes_since_index_entry;
        self.max_timestamp = tracker.max_timestamp;
        self.offset_of_max_timestamp = tracker.offset_of_max_timestamp;
        self.first_batch_timestamp = tracker.first_batch_timestamp;
        if let Some(reason) = &report.stopped_early {
            if verify_crc {
                warn!(
                    segment = %log_path.display(),
                    kept_bytes = report.valid_bytes,
                    cut_bytes = file_len - report.valid_bytes,
                    %reason,
                    "recovery truncated a torn or corrupt tail"
                );
                ops.set_len(target, report.valid_bytes)?;
            } else {
                warn!(segment = %log_path.display(), %reason, "index rebuild stopped early");
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
                time_index.append_final(self.max_timestamp, self.offset_of_max_timestamp);
            }
            index_file::trim(ops, &self.path(".index"), offset_index.seal())?;
            index_file::trim(ops, &self.path(".timeindex"), time_index.seal())?;
        }
        Ok((
            SegmentFiles {
                log,
                log_path,
                offset_index,
                time_index,
            },
            report,
        ))
    }

    fn rebuild(
        &mut self,
        ops: &dyn FileOps,
        log: Arc<File>,
        log_path: PathBuf,
        config: &LogConfig,
        verify_crc: bool,
    ) -> io::Result<(SegmentFiles, ScanReport)> {
        self.rebuild_visiting(ops, log, log_path, config, verify_crc, |_| {})
    }

    /// Recovery after an unclean stop: checks every batch's CRC, cuts the file at the first bad
    /// byte and rebuilds the indexes; `visit` sees every batch kept. Returns the bytes cut off.
    pub fn recover(
        &mut self,
        ops: &dyn FileOps,
        config: &LogConfig,
        visit: impl FnMut(&BatchHeader),
    ) -> io::Result<u64> {
        self.files = None;
        let log_path = self.path(".log");
        let log = Arc::new(ops.open(&log_path, OpenMode::ReadWrite)?);
        let len_before = log.metadata()?.len();
        let (files, report) = self.rebuild_visiting(ops, log, log_path, config, true, visit)?;
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
    pub fn load_tail(&mut self, ops: &dyn FileOps, config: &LogConfig) -> io::Result<()> {
        self.active = true;
        self.size = std::fs::metadata(self.path(".log"))?.len();
        self.open(ops, config)?;
        let files = self.files.as_ref().ok_or_else(closed)?;
        let start = files
            .offset_index
            .last_entry()
            .map_or(0, |e| u64::from(e.position));
        let mut position = start;
        let mut next = None;
        while position < self.size {
            match read_header(ops, files.target(), position, self.size)? {
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
            warn!(segment = %files.log_path.display(), cut_bytes = self.size - position,
                "active segment had a partial batch after a clean stop; cutting it");
            ops.set_len(files.target(), position)?;
            self.size = position;
        }
        self.bytes_since_index_entry = (self.size - start) as usize;
        self.next_offset = next.unwrap_or(self.base_offset);
        Ok(())
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

    /// The index growth to make (outside the log's lock) before the next batch is appended, if the
    /// batch will be indexed and there is no room yet. After a failed growth, none is asked for a
    /// second while: the batch then simply goes unindexed.
    pub fn growth_needed(&self, config: &LogConfig) -> Option<Growth> {
        if self.bytes_since_index_entry <= config.index_interval_bytes {
            return None;
        }
        if self
            .growth_failed_at
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1))
        {
            return None;
        }
        let files = self.files.as_ref()?;
        files
            .offset_index
            .growth_needed()
            .or_else(|| files.time_index.growth_needed())
    }

    /// Records a growth attempt for this segment's indexes.
    pub fn grown(&mut self, growth: &Growth, ok: bool) {
        if !ok {
            self.growth_failed_at = Some(Instant::now());
            return;
        }
        if let Some(files) = self.files.as_mut() {
            files.offset_index.grown(growth);
            files.time_index.grown(growth);
        }
    }

    /// Appends one batch: `parts` are its bytes (a patched header, then the rest), `header` its
    /// header as written. A failed write is cut back off so no partial batch remains; if even that
    /// fails the error is fatal for the directory.
    pub fn append(
        &mut self,
        ops: &dyn FileOps,
        config: &LogConfig,
        header: &BatchHeader,
        parts: &[&[u8]],
    ) -> io::Result<()> {
        let position = self.size;
        let mut tracker = IndexTracker {
            bytes_since_index_entry: self.bytes_since_index_entry,
            max_timestamp: self.max_timestamp,
            offset_of_max_timestamp: self.offset_of_max_timestamp,
            first_batch_timestamp: self.first_batch_timestamp,
        };
        let files = self.files()?;
        if let Err(e) = ops.write_at(files.target(), parts, position) {
            // Leave no partial batch behind for readers or for recovery to find.
            if let Err(cut) = ops.set_len(files.target(), position) {
                return Err(super::io::fatal(
                    format!(
                        "could not cut a failed append ({e}) back off {}",
                        files.log_path.display()
                    ),
                    &cut,
                ));
            }
            return Err(e);
        }
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
        ops: &dyn FileOps,
        config: &LogConfig,
        offset: i64,
    ) -> io::Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let size = self.size;
        let hint = self.read_hint;
        let files = self.files()?;
        if let Some((hint_offset, hint_position)) = hint
            && hint_offset == offset
            && let Some(h) = read_header(ops, files.target(), hint_position, size)?
            && h.base_offset <= offset
            && offset <= h.last_offset()
        {
            return Ok(Some((hint_position, h)));
        }
        let mut position = u64::from(files.offset_index.lookup(offset).position);
        // The index entry lies within about one index interval of the target: one read of that
        // span usually covers every header on the way.
        let mut scanner = HeaderScanner::new(
            ops,
            files.target(),
            size,
            config.index_interval_bytes + HEADER_LEN,
        );
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
        ops: &dyn FileOps,
        config: &LogConfig,
        offset: i64,
        max_bytes: u64,
        upper_bound: i64,
        min_one: bool,
    ) -> io::Result<Option<SegmentRead>> {
        let Some((start, first)) = self.locate(ops, config, offset)? else {
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
            let files = self.files()?;
            // Jump over batches that an index entry proves to fit: those before an entry whose
            // position is within the byte budget and whose offset is below the upper bound.
            let by_bytes = files
                .offset_index
                .floor_by_position(limit.min(u64::from(u32::MAX)) as u32);
            let by_offset = bounded.then(|| files.offset_index.lookup(upper_bound - 1).position);
            let mut position = start;
            let mut header = first;
            let mut scanner = HeaderScanner::new(ops, files.target(), size, SCAN_CHUNK);
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
        let files = self.files()?;
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
        ops: &dyn FileOps,
        config: &LogConfig,
        timestamp: i64,
    ) -> io::Result<Option<(BatchHeader, Vec<u8>)>> {
        let size = self.size;
        let base = self.base_offset;
        let files = self.files()?;
        let from = files
            .time_index
            .lookup(timestamp)
            .map_or(base, |e| e.offset);
        let mut position = u64::from(files.offset_index.lookup(from).position);
        let mut scanner = HeaderScanner::new(
            ops,
            files.target(),
            size,
            config.index_interval_bytes + HEADER_LEN,
        );
        while let Some(h) = scanner.header_at(position)? {
            if h.max_timestamp >= timestamp {
                let mut bytes = vec![0u8; h.total_size()];
                ops.read_at(files.target(), &mut bytes, position)?;
                return Ok(Some((h, bytes)));
            }
            position += h.total_size() as u64;
        }
        Ok(None)
    }

    /// The bytes of the batch holding `offset`.
    pub fn batch_at(
        &mut self,
        ops: &dyn FileOps,
        config: &LogConfig,
        offset: i64,
    ) -> io::Result<Option<(BatchHeader, Vec<u8>)>> {
        let Some((position, h)) = self.locate(ops, config, offset)? else {
            return Ok(None);
        };
        let files = self.files()?;
        let mut bytes = vec![0u8; h.total_size()];
        ops.read_at(files.target(), &mut bytes, position)?;
        Ok(Some((h, bytes)))
    }

    /// Visits the header of every batch that ends at or after `from` (offset order).
    pub fn for_each_header(
        &mut self,
        ops: &dyn FileOps,
        config: &LogConfig,
        from: i64,
        mut visit: impl FnMut(&BatchHeader),
    ) -> io::Result<()> {
        let Some((mut position, _)) = self.locate(ops, config, from)? else {
            return Ok(());
        };
        let size = self.size;
        let files = self.files()?;
        let mut scanner = HeaderScanner::new(ops, files.target(), size, SCAN_CHUNK);
        while let Some(h) = scanner.header_at(position)? {
            visit(&h);
            position += h.total_size() as u64;
        }
        Ok(())
    }

    /// The largest timestamp in the segment and the last offset of the batch carrying it, or
    /// `None` for an empty segment.
    pub fn max_timestamp(&mut self) -> io::Result<Option<(i64, i64)>> {
        if self.size == 0 {
            return Ok(None);
        }
        self.files()?;
        Ok((self.offset_of_max_timestamp >= 0)
            .then_some((self.max_timestamp, self.offset_of_max_timestamp)))
    }

    /// The newest timestamp for retention if known without touching files (the segment is open,
    /// or was since it was loaded).
    pub fn known_largest_timestamp(&self) -> Option<i64> {
        (self.offset_of_max_timestamp >= 0).then_some(self.max_timestamp)
    }

    /// The newest timestamp for retention of a segment whose files are not open: the time index's
    /// last entry, else the log file's modification time. Slow; call outside the log's lock.
    pub fn read_largest_timestamp(ops: &dyn FileOps, dir: &Path, base: i64) -> io::Result<i64> {
        let time_index = dir.join(file_name(base, ".timeindex"));
        if let Ok(file) = ops.open(&time_index, OpenMode::Read) {
            let len = file.metadata()?.len();
            if len >= 12 && len % 12 == 0 {
                let mut ts = [0u8; 8];
                ops.read_at(
                    Target {
                        file: &file,
                        path: &time_index,
                    },
                    &mut ts,
                    len - 12,
                )?;
                let ts = i64::from_be_bytes(ts);
                if ts >= 0 {
                    return Ok(ts);
                }
            }
        }
        let modified = std::fs::metadata(dir.join(file_name(base, ".log")))?.modified()?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64))
    }

    /// Remembers the largest timestamp read by [`Segment::read_largest_timestamp`].
    pub fn remember_largest_timestamp(&mut self, timestamp: i64) {
        if self.offset_of_max_timestamp < 0 {
            self.max_timestamp = timestamp;
            self.offset_of_max_timestamp = self.next_offset.saturating_sub(1).max(self.base_offset);
        }
    }

    /// Removes every batch at or after the one holding `offset`. Returns the new next offset.
    pub fn truncate_to(
        &mut self,
        ops: &dyn FileOps,
        config: &LogConfig,
        offset: i64,
    ) -> io::Result<i64> {
        let Some((position, h)) = self.locate(ops, config, offset)? else {
            return Ok(self.next_offset);
        };
        let files = self.files()?;
        ops.set_len(files.target(), position)?;
        files.offset_index.truncate_to(h.base_offset);
        files.time_index.truncate_to(h.base_offset);
        self.size = position;
        self.next_offset = h.base_offset;
        self.read_hint = None;
        self.recompute_tail_state(ops)?;
        Ok(self.next_offset)
    }

    /// Recomputes the append bookkeeping by scanning from the last index entry to the end.
    fn recompute_tail_state(&mut self, ops: &dyn FileOps) -> io::Result<()> {
        let size = self.size;
        let files = self.files()?;
        let last_time = files.time_index.last_entry();
        let start = files
            .offset_index
            .last_entry()
            .map_or(0, |e| u64::from(e.position));
        let (mut max_ts, mut max_ts_offset) =
            last_time.map_or((-1, -1), |e| (e.timestamp, e.offset));
        let mut position = start;
        while let Some(h) = read_header(ops, files.target(), position, size)? {
            if h.max_timestamp > max_ts {
                max_ts = h.max_timestamp;
                max_ts_offset = h.last_offset();
            }
            position += h.total_size() as u64;
        }
        let first = if size > 0 {
            read_header(ops, files.target(), 0, size)?.map(|h| h.max_timestamp)
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
    /// Slow (reopens the indexes writable).
    pub fn reactivate(&mut self, ops: &dyn FileOps, config: &LogConfig) -> io::Result<()> {
        if self.active {
            return Ok(());
        }
        if let Some(files) = self.files.take() {
            ClosingFiles(files).close(ops)?;
        }
        self.active = true;
        self.open(ops, config)?;
        self.recompute_tail_state(ops)
    }

    /// Stops appends to this segment: records the final time index entry and seals both indexes
    /// in memory. Returns the index trims to make outside the log's lock.
    pub fn seal(&mut self) -> Vec<Trim> {
        self.active = false;
        let (max_timestamp, offset) = (self.max_timestamp, self.offset_of_max_timestamp);
        let Some(files) = self.files.as_mut() else {
            return Vec::new();
        };
        if offset >= 0 {
            files.time_index.append_final(max_timestamp, offset);
        }
        if let Err(e) = files
            .offset_index
            .flush_async()
            .and_then(|()| files.time_index.flush_async())
        {
            warn!(segment = %files.log_path.display(), error = %e, "could not start index write-back");
        }
        vec![
            Trim {
                path: files.offset_index.path().to_path_buf(),
                len: files.offset_index.seal(),
            },
            Trim {
                path: files.time_index.path().to_path_buf(),
                len: files.time_index.seal(),
            },
        ]
    }

    /// The open log file, for an fdatasync outside the log's lock.
    pub fn open_log_file(&self) -> Option<(Arc<File>, PathBuf)> {
        self.files
            .as_ref()
            .map(|f| (Arc::clone(&f.log), f.log_path.clone()))
    }

    /// Marks the segment as the one that takes appends (before recovery rebuilds its indexes).
    pub fn set_active(&mut self) {
        self.active = true;
    }

    /// Takes the files out, to be closed with [`ClosingFiles::close`] outside the log's lock.
    pub fn take_files(&mut self) -> Option<ClosingFiles> {
        self.read_hint = None;
        self.files.take().map(ClosingFiles)
    }

    /// Removes the segment's files. Regions already handed out stay readable.
    pub fn delete(mut self, ops: &dyn FileOps) -> io::Result<()> {
        self.files = None;
        for suffix in [".log", ".index", ".timeindex"] {
            ops.remove_file(&self.path(suffix))?;
        }
        Ok(())
    }

    /// Best-effort removal after a failed creation.
    fn remove_files(&self, ops: &dyn FileOps) {
        for suffix in [".log", ".index", ".timeindex"] {
            let _ = ops.remove_file(&self.path(suffix));
        }
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
            // An entry without room is skipped: lookups then scan a little further. A full index
            // makes the next append roll.
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
    ops: &'a dyn FileOps,
    file: Target<'a>,
    size: u64,
    chunk: usize,
    buf: [u8; SCAN_CHUNK],
    buf_start: u64,
    buf_len: usize,
}

impl<'a> HeaderScanner<'a> {
    fn new(ops: &'a dyn FileOps, file: Target<'a>, size: u64, chunk: usize) -> Self {
        HeaderScanner {
            ops,
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
            self.ops
                .read_at(self.file, &mut self.buf[..len], position)?;
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
fn read_header(
    ops: &dyn FileOps,
    log: Target<'_>,
    position: u64,
    size: u64,
) -> io::Result<Option<BatchHeader>> {
    if position + HEADER_LEN as u64 > size {
        return Ok(None);
    }
    let mut buf = [0u8; HEADER_LEN];
    ops.read_at(log, &mut buf, position)?;
    match BatchHeader::parse(&buf) {
        Ok(h) if position + h.total_size() as u64 <= size => Ok(Some(h)),
        _ => Ok(None),
    }
}
