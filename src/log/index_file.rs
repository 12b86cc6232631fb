//! A memory-mapped file of fixed-size, sorted entries: the storage shared by the offset index and the
//! time index.
//!
//! While its segment is active the index is mapped writable over the largest size it may reach
//! (`segment.index.bytes`), but the file itself only grows as entries arrive, a step at a time, and
//! every step allocates its disk blocks before any entry is written there. A page of the mapping is
//! therefore never touched unless the filesystem already holds blocks for it: on a full disk the
//! index stops growing (entries are skipped, lookups scan a little further) instead of the process
//! dying of SIGBUS. One entry of the allocated room is kept spare for the final time-index entry a
//! segment gets when it is sealed.
//!
//! Sealing (a roll, or closing the segment) stops appends; the file is then trimmed to exactly
//! `entries * entry_size` bytes, so a sealed file's length tells how many entries it has. No file
//! descriptor is kept: the mapping outlives the descriptor it was made from, and growth or trimming
//! reopens the file by its path.

use std::io;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut, MmapOptions};

use super::io::{FileOps, OpenMode, Severity, Target, classify};

/// Bytes allocated for a new index file; each growth step doubles the allocation, by at most
/// [`MAX_GROWTH_BYTES`].
pub const INITIAL_BYTES: usize = 4096;
pub const MAX_GROWTH_BYTES: usize = 1024 * 1024;

enum Map {
    Writable(MmapMut),
    ReadOnly(Option<Mmap>),
}

pub struct IndexFile {
    path: PathBuf,
    entry_size: usize,
    map: Map,
    entries: usize,
    /// Entries whose bytes have disk blocks allocated; nothing at or beyond is ever written.
    allocated: usize,
    /// Entries the mapping (and `segment.index.bytes`) can hold.
    max_entries: usize,
    /// No more entries will be added (the file may still need trimming).
    sealed: bool,
}

/// Growth to make outside the log's lock: allocate `len` bytes of the file at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    pub path: PathBuf,
    pub len: u64,
}

impl Growth {
    pub fn apply(&self, ops: &dyn FileOps) -> io::Result<()> {
        let file = ops.open(&self.path, OpenMode::ReadWrite)?;
        ops.allocate(
            Target {
                file: &file,
                path: &self.path,
            },
            self.len,
        )
    }
}

/// Cuts the index file at `path` to `len` bytes (its entries), once it is sealed.
pub fn trim(ops: &dyn FileOps, path: &Path, len: u64) -> io::Result<()> {
    let file = ops.open(path, OpenMode::ReadWrite)?;
    ops.set_len(Target { file: &file, path }, len)
}

/// Allocates room for `wanted` entries; on a full disk keeps the `have` entries already there (the
/// index then takes no entries until it can grow). Other errors are returned.
fn allocate_or_keep(
    ops: &dyn FileOps,
    file: Target<'_>,
    wanted: usize,
    have: usize,
    entry_size: usize,
) -> io::Result<usize> {
    match ops.allocate(file, (wanted * entry_size) as u64) {
        Ok(()) => Ok(wanted),
        Err(e) if classify(&e) == Severity::Full => Ok(have),
        Err(e) => Err(e),
    }
}

fn map_writable(ops: &dyn FileOps, path: &Path, max_bytes: usize) -> io::Result<MmapMut> {
    let file = ops.open(path, OpenMode::ReadWrite)?;
    // SAFETY: index files are private to this process. The mapping may extend past the end of the
    // file; pages there are never touched (see `allocated`), and the file never shrinks below an
    // entry in use while the mapping lives.
    unsafe { MmapOptions::new().len(max_bytes).map_mut(&file) }
}

impl IndexFile {
    /// Creates (or empties) the file, allocates its first step and maps it writable with room for
    /// `max_bytes` of entries.
    pub fn create(
        ops: &dyn FileOps,
        path: &Path,
        entry_size: usize,
        max_bytes: usize,
    ) -> io::Result<Self> {
        let max_entries = (max_bytes / entry_size).max(2);
        let wanted = (INITIAL_BYTES / entry_size).clamp(2, max_entries);
        let file = ops.open(path, OpenMode::Create)?;
        let allocated = allocate_or_keep(ops, Target { file: &file, path }, wanted, 0, entry_size)?;
        drop(file);
        Ok(IndexFile {
            map: Map::Writable(map_writable(ops, path, max_entries * entry_size)?),
            path: path.to_path_buf(),
            entry_size,
            entries: 0,
            allocated,
            max_entries,
            sealed: false,
        })
    }

    /// Opens an existing sealed file read-only; every entry in it counts.
    pub fn open_sealed(ops: &dyn FileOps, path: &Path, entry_size: usize) -> io::Result<Self> {
        let file = ops.open(path, OpenMode::Read)?;
        let len = file.metadata()?.len() as usize;
        if len % entry_size != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{len} bytes is not a whole number of {entry_size}-byte entries"),
            ));
        }
        // SAFETY: index files are private to this process; a sealed file is never shrunk while
        // mapped.
        let map = if len == 0 {
            None
        } else {
            Some(unsafe { Mmap::map(&file)? })
        };
        let entries = len / entry_size;
        Ok(IndexFile {
            path: path.to_path_buf(),
            entry_size,
            map: Map::ReadOnly(map),
            entries,
            allocated: entries,
            max_entries: entries,
            sealed: true,
        })
    }

    /// Turns a sealed file back into a writable one (the active segment after a restart).
    pub fn reopen_writable(self, ops: &dyn FileOps, max_bytes: usize) -> io::Result<Self> {
        let entries = self.entries;
        let (path, entry_size) = (self.path.clone(), self.entry_size);
        drop(self);
        let max_entries = (max_bytes / entry_size).max(entries + 2);
        let wanted = (entries + (INITIAL_BYTES / entry_size).max(2)).min(max_entries);
        let file = ops.open(&path, OpenMode::ReadWrite)?;
        let target = Target {
            file: &file,
            path: &path,
        };
        let allocated = allocate_or_keep(ops, target, wanted, entries, entry_size)?;
        drop(file);
        Ok(IndexFile {
            map: Map::Writable(map_writable(ops, &path, max_entries * entry_size)?),
            path,
            entry_size,
            entries,
            allocated,
            max_entries,
            sealed: false,
        })
    }

    fn bytes(&self) -> &[u8] {
        match &self.map {
            Map::Writable(map) => &map[..self.entries * self.entry_size],
            Map::ReadOnly(Some(map)) => map,
            Map::ReadOnly(None) => &[],
        }
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// No room for another entry even at the largest size: the segment must roll.
    pub fn is_full(&self) -> bool {
        self.sealed || self.entries + 2 > self.max_entries
    }

    pub fn entry(&self, i: usize) -> &[u8] {
        &self.bytes()[i * self.entry_size..(i + 1) * self.entry_size]
    }

    /// The allocation the next entry needs, if the allocated room (less the spare) is used up and
    /// the file may still grow.
    pub fn growth_needed(&self) -> Option<Growth> {
        if self.sealed || self.entries + 2 <= self.allocated || self.allocated >= self.max_entries {
            return None;
        }
        let step = self.allocated.clamp(2, MAX_GROWTH_BYTES / self.entry_size);
        let len = (self.allocated + step).min(self.max_entries);
        Some(Growth {
            path: self.path.clone(),
            len: (len * self.entry_size) as u64,
        })
    }

    /// Records a growth made by [`Growth::apply`].
    pub fn grown(&mut self, growth: &Growth) {
        if growth.path == self.path {
            let entries = growth.len as usize / self.entry_size;
            self.allocated = self.allocated.max(entries.min(self.max_entries));
        }
    }

    fn write(&mut self, entry: &[u8], limit: usize) -> bool {
        assert_eq!(
            entry.len(),
            self.entry_size,
            "index entry of the wrong size"
        );
        if self.sealed || self.entries + 1 > limit {
            return false;
        }
        let at = self.entries * self.entry_size;
        let Map::Writable(map) = &mut self.map else {
            return false;
        };
        assert!(
            at + self.entry_size <= self.allocated * self.entry_size,
            "index write beyond its allocated blocks"
        );
        map[at..at + self.entry_size].copy_from_slice(entry);
        self.entries += 1;
        true
    }

    /// Appends one entry, keeping one allocated entry spare; `false` when there is no room (full,
    /// not grown yet, or sealed).
    pub fn push(&mut self, entry: &[u8]) -> bool {
        let limit = self.allocated.saturating_sub(1);
        self.write(entry, limit)
    }

    /// Appends the final entry of a segment being sealed; it may take the spare entry.
    pub fn push_final(&mut self, entry: &[u8]) -> bool {
        let limit = self.allocated;
        self.write(entry, limit)
    }

    /// Forgets entries from `n` on.
    pub fn truncate_entries(&mut self, n: usize) {
        self.entries = self.entries.min(n);
    }

    /// The index of the last entry whose key is at or below `target`, for keys that never decrease.
    pub fn floor<K: Ord>(&self, target: K, key: impl Fn(&[u8]) -> K) -> Option<usize> {
        // partition_point: the first entry whose key exceeds the target.
        let (mut lo, mut hi) = (0, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// Stops appends. Returns the length the file must be trimmed to (with [`trim`], outside the
    /// log's lock); entries stay readable.
    pub fn seal(&mut self) -> u64 {
        self.sealed = true;
        self.max_entries = self.entries;
        (self.entries * self.entry_size) as u64
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Starts writing back dirty pages of a writable map without waiting (indexes are rebuilt
    /// after a crash, so they are never a durability concern).
    pub fn flush_async(&self) -> io::Result<()> {
        match &self.map {
            Map::Writable(map) if self.entries > 0 => {
                map.flush_async_range(0, self.entries * self.entry_size)
            }
            _ => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
