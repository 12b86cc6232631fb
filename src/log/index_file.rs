//! A memory-mapped file of fixed-size, sorted entries: the storage shared by the offset index and the
//! time index.
//!
//! While its segment is active the file is preallocated to the configured maximum and mapped
//! writable; only the first `entries` entries mean anything. When the segment is sealed (rolled or
//! closed cleanly) the file is trimmed to exactly `entries * entry_size` bytes and mapped read-only,
//! so a sealed index file's length tells how many entries it has.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};

enum Map {
    Writable { file: File, map: MmapMut },
    ReadOnly(Option<Mmap>),
}

pub struct IndexFile {
    path: PathBuf,
    entry_size: usize,
    map: Map,
    entries: usize,
    max_entries: usize,
}

impl IndexFile {
    /// Creates (or empties) the file and maps it writable with room for `max_bytes` of entries.
    pub fn create(path: &Path, entry_size: usize, max_bytes: usize) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Self::map_writable(path, file, entry_size, max_bytes, 0)
    }

    /// Opens an existing sealed file read-only; every entry in it counts.
    pub fn open_sealed(path: &Path, entry_size: usize) -> io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len % entry_size != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes is not a whole number of {entry_size}-byte entries",
                    len
                ),
            ));
        }
        // SAFETY: index files are private to this process; nothing truncates a mapped file.
        let map = if len == 0 {
            None
        } else {
            Some(unsafe { Mmap::map(&file)? })
        };
        Ok(IndexFile {
            path: path.to_path_buf(),
            entry_size,
            map: Map::ReadOnly(map),
            entries: len / entry_size,
            max_entries: len / entry_size,
        })
    }

    /// Turns a sealed file back into a writable one (the active segment after a clean restart).
    pub fn reopen_writable(self, max_bytes: usize) -> io::Result<Self> {
        let entries = self.entries;
        let (path, entry_size) = (self.path.clone(), self.entry_size);
        drop(self);
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        Self::map_writable(&path, file, entry_size, max_bytes, entries)
    }

    fn map_writable(
        path: &Path,
        file: File,
        entry_size: usize,
        max_bytes: usize,
        entries: usize,
    ) -> io::Result<Self> {
        let max_entries = (max_bytes / entry_size).max(entries).max(1);
        file.set_len((max_entries * entry_size) as u64)?;
        // SAFETY: as above; the file was just sized to the mapping.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(IndexFile {
            path: path.to_path_buf(),
            entry_size,
            map: Map::Writable { file, map },
            entries,
            max_entries,
        })
    }

    fn bytes(&self) -> &[u8] {
        match &self.map {
            Map::Writable { map, .. } => map,
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

    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    pub fn entry(&self, i: usize) -> &[u8] {
        &self.bytes()[i * self.entry_size..(i + 1) * self.entry_size]
    }

    /// Appends one entry; `false` when the file is full or sealed.
    pub fn push(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_size);
        if self.is_full() {
            return false;
        }
        let at = self.entries * self.entry_size;
        match &mut self.map {
            Map::Writable { map, .. } => map[at..at + self.entry_size].copy_from_slice(entry),
            Map::ReadOnly(_) => return false,
        }
        self.entries += 1;
        true
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

    /// Trims the file to its entries and maps it read-only. Entries stay readable. If trimming fails
    /// the index forgets its entries (lookups then scan the log), and the error is returned.
    pub fn seal(&mut self) -> io::Result<()> {
        let Map::Writable { file, map } = std::mem::replace(&mut self.map, Map::ReadOnly(None))
        else {
            return Ok(());
        };
        let result = (|| {
            // Start the write-back without waiting for it: indexes are rebuilt from the log after a
            // crash, so sealing (which happens on the append path at a roll) never waits for disk.
            map.flush_async()?;
            // Unmap before shrinking the file under the mapping.
            drop(map);
            file.set_len((self.entries * self.entry_size) as u64)?;
            if self.entries > 0 {
                // SAFETY: as above.
                self.map = Map::ReadOnly(Some(unsafe { Mmap::map(&file)? }));
            }
            Ok(())
        })();
        if result.is_err() {
            self.entries = 0;
        }
        self.max_entries = self.entries;
        result
    }

    /// Writes dirty pages of a writable map to disk.
    pub fn flush(&self) -> io::Result<()> {
        match &self.map {
            Map::Writable { map, .. } => map.flush(),
            Map::ReadOnly(_) => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
