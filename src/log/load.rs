//! Loading a partition log at start-up: finding its segments, recovering them after an unclean stop
//! (CRC checks from the recovery point, a torn tail cut off), and rebuilding what describes the log
//! (the leader-epoch cache and the idempotent-producer state) so that both match the log exactly,
//! whatever the crash left.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use super::config::LogConfig;
use super::dir::LogDir;
use super::io::{self as fileio, FileOps};
use super::leader_epoch::{self, LeaderEpochCache};
use super::partition_log::{LoadOptions, Log, LogState, snapshot_offsets};
use super::producer_state::ProducerStateTable;
use super::segment::Segment;

/// Segment files (base offset, `.log` size) in `dir`, in order. Leftovers of interrupted work
/// (`.deleted`, `.cleaned`, `.swap`, `.tmp`) are removed.
fn segment_bases(ops: &dyn FileOps, dir: &Path) -> io::Result<Vec<(i64, u64)>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".log")
            && stem.len() == 20
            && let Ok(base) = stem.parse::<i64>()
        {
            bases.push((base, entry.metadata()?.len()));
        } else if [".deleted", ".cleaned", ".swap", ".tmp"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            ops.remove_file(&entry.path())?;
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

impl Log {
    /// Loads the log in `path`, recovering it first after an unclean stop. Blocking.
    pub fn open(
        dir: Arc<LogDir>,
        path: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        options: LoadOptions,
    ) -> io::Result<Log> {
        let ops = dir.ops();
        let found = segment_bases(ops, path)?;
        if found.is_empty() {
            let start = options.log_start_offset.unwrap_or(0).max(0);
            return Log::create(dir, path, topic, partition, config, start, options.now_ms);
        }
        let path_arc: Arc<Path> = Arc::from(path);
        let mut segments: BTreeMap<i64, Segment> = BTreeMap::new();
        for (i, (base, size)) in found.iter().enumerate() {
            let mut segment = Segment::found(&path_arc, *base, *size, options.now_ms);
            if let Some((next_base, _)) = found.get(i + 1) {
                segment.set_sealed_next_offset(*next_base);
            }
            segments.insert(*base, segment);
        }
        let mut recovery_point = options.recovery_point;
        let mut recovered_epochs: Vec<(i32, i64)> = Vec::new();
        if options.clean_shutdown {
            if let Some((_, active)) = segments.iter_mut().next_back() {
                active.load_tail(ops, &config)?;
                if let Some(files) = active.take_files() {
                    files.close(ops)?;
                }
            }
        } else {
            recovery_point = recover(
                ops,
                path,
                &mut segments,
                &config,
                options.recovery_point,
                |epoch, offset| recovered_epochs.push((epoch, offset)),
            )?;
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
        let mut state = LogState {
            config: Arc::new(config),
            segments,
            start_offset,
            next_offset,
            recovery_point: recovery_point.min(next_offset),
            dir_dirty: false,
            parent_dirty: false,
            truncations: 0,
            producers: ProducerStateTable::default(),
            epochs: LeaderEpochCache::default(),
            snapshots: snapshot_offsets(path)?,
        };
        state.epochs = load_epochs(ops, path, &mut state, &recovered_epochs)?;
        state.drop_snapshots_after(ops, path, next_offset)?;
        state.load_producers(ops, path, options.now_ms)?;
        Ok(Log::from_state(dir, path, topic, partition, state))
    }
}

/// Recovery: every segment holding offsets at or above the recovery point is scanned with CRC
/// checks; a segment cut short takes all later segments with it. `epoch_seen` is told the epoch and
/// base offset of every batch kept. Returns the recovery point to keep (offsets below it were
/// already durable).
fn recover(
    ops: &dyn FileOps,
    dir: &Path,
    segments: &mut BTreeMap<i64, Segment>,
    config: &LogConfig,
    recovery_point: i64,
    mut epoch_seen: impl FnMut(i32, i64),
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
        let cut = segment.recover(ops, config, |h| {
            epoch_seen(h.partition_leader_epoch, h.base_offset)
        })?;
        let ends_short = expected_next.is_some_and(|next| segment.next_offset() != next);
        if cut > 0 {
            info!(dir = %dir.display(), segment = base, cut_bytes = cut, "recovered segment");
        }
        if let Some(files) = segment.take_files() {
            files.close(ops)?;
        }
        if (cut > 0 || ends_short) && expected_next.is_some() {
            cut_from = Some(i + 1);
            break;
        }
    }
    if let Some(first_removed) = cut_from {
        for base in &bases[first_removed..] {
            if let Some(segment) = segments.remove(base) {
                warn!(dir = %dir.display(), segment = base, "removing segment after a truncated one");
                segment.delete(ops)?;
            }
        }
        if let Some((_, last)) = segments.iter_mut().next_back() {
            last.reactivate(ops, config)?;
            if let Some(files) = last.take_files() {
                files.close(ops)?;
            }
        }
    }
    let next = segments
        .values()
        .next_back()
        .map_or(0, Segment::next_offset);
    Ok(recovery_point.min(next))
}

/// The leader-epoch cache: the checkpoint file plus the epochs of a recovered tail, or, when the
/// file is missing or unreadable, every batch header of the log. Trimmed to the log's extent.
fn load_epochs(
    ops: &dyn FileOps,
    dir: &Path,
    state: &mut LogState,
    recovered: &[(i32, i64)],
) -> io::Result<LeaderEpochCache> {
    let path = dir.join(leader_epoch::CHECKPOINT_FILE);
    let from_file = match fileio::read_small_file(ops, &path, 16 * 1024 * 1024)? {
        Some(bytes) => match std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(LeaderEpochCache::decode)
        {
            Ok(cache) => Some(cache),
            Err(e) => {
                warn!(file = %path.display(), error = %e, "rebuilding an unreadable leader-epoch checkpoint from the log");
                None
            }
        },
        None => None,
    };
    let mut cache = match from_file {
        Some(mut cache) => {
            for (epoch, offset) in recovered {
                cache.assign(*epoch, *offset);
            }
            cache
        }
        None if state.next_offset > state.start_offset => {
            let mut cache = LeaderEpochCache::default();
            // Rebuilt entries are not on disk yet: the next flush or checkpoint writes them.
            let start = state.start_offset;
            state.for_each_header_from(ops, start, |h| {
                cache.assign(h.partition_leader_epoch, h.base_offset);
            })?;
            cache
        }
        None => LeaderEpochCache::default(),
    };
    cache.truncate_from_end(state.next_offset);
    cache.truncate_from_start(state.start_offset);
    Ok(cache)
}
