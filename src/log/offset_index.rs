//! The sparse offset index of one segment (`<base offset>.index`).
//!
//! Each 8-byte entry is `relative offset: u32, position: u32`, big-endian: the last offset of a batch
//! minus the segment's base offset, and the byte position in the `.log` file where that batch starts.
//! An entry is added once more than `index.interval.bytes` were appended since the previous one, so
//! entries are sparse and strictly increasing in both fields. To find an offset, take the last entry
//! at or below it and scan batch headers forward from its position (never more than about one index
//! interval).

use std::io;
use std::path::Path;

use super::index_file::{Growth, IndexFile};
use super::io::FileOps;

pub const ENTRY_SIZE: usize = 8;

pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

/// One index entry, with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u32,
}

impl OffsetIndex {
    pub fn create(
        ops: &dyn FileOps,
        path: &Path,
        base_offset: i64,
        max_bytes: usize,
    ) -> io::Result<Self> {
        Ok(OffsetIndex {
            base_offset,
            file: IndexFile::create(ops, path, ENTRY_SIZE, max_bytes)?,
        })
    }

    pub fn open_sealed(ops: &dyn FileOps, path: &Path, base_offset: i64) -> io::Result<Self> {
        Ok(OffsetIndex {
            base_offset,
            file: IndexFile::open_sealed(ops, path, ENTRY_SIZE)?,
        })
    }

    pub fn reopen_writable(self, ops: &dyn FileOps, max_bytes: usize) -> io::Result<Self> {
        Ok(OffsetIndex {
            base_offset: self.base_offset,
            file: self.file.reopen_writable(ops, max_bytes)?,
        })
    }

    fn get(&self, i: usize) -> OffsetPosition {
        let e = self.file.entry(i);
        OffsetPosition {
            offset: self.base_offset + i64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
            position: u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
        }
    }

    /// Checks that the entries could belong to a segment of `log_size` bytes ending before
    /// `next_offset`: both fields strictly increasing and inside the segment.
    pub fn check(&self, log_size: u64, next_offset: i64) -> Result<(), String> {
        let mut previous: Option<OffsetPosition> = None;
        for i in 0..self.file.len() {
            let entry = self.get(i);
            if u64::from(entry.position) >= log_size || entry.offset >= next_offset {
                return Err(format!("entry {i} {entry:?} lies outside the segment"));
            }
            if let Some(p) = previous
                && (entry.offset <= p.offset || entry.position <= p.position)
            {
                return Err(format!("entry {i} {entry:?} does not follow {p:?}"));
            }
            previous = Some(entry);
        }
        Ok(())
    }

    /// The last entry at or below `offset`, or the segment start when there is none.
    pub fn lookup(&self, offset: i64) -> OffsetPosition {
        match self.file.floor(offset, |e| {
            self.base_offset + i64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]]))
        }) {
            Some(i) => self.get(i),
            None => OffsetPosition {
                offset: self.base_offset,
                position: 0,
            },
        }
    }

    /// The last entry whose batch starts at or before `position`.
    pub fn floor_by_position(&self, position: u32) -> Option<OffsetPosition> {
        self.file
            .floor(position, |e| u32::from_be_bytes([e[4], e[5], e[6], e[7]]))
            .map(|i| self.get(i))
    }

    pub fn last_entry(&self) -> Option<OffsetPosition> {
        self.file.len().checked_sub(1).map(|i| self.get(i))
    }

    /// Adds an entry for the batch ending at `last_offset` that starts at `position`. Returns
    /// `false` when there is no room for it (full, or not grown yet).
    pub fn append(&mut self, last_offset: i64, position: u32) -> bool {
        let relative = (last_offset - self.base_offset) as u32;
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..4].copy_from_slice(&relative.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&entry)
    }

    /// Drops every entry for offsets at or above `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let keep = match self.file.floor(offset - 1, |e| {
            self.base_offset + i64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]]))
        }) {
            Some(i) => i + 1,
            None => 0,
        };
        self.file.truncate_entries(keep);
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub fn len(&self) -> usize {
        self.file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// The allocation the next entry needs first, if any.
    pub fn growth_needed(&self) -> Option<Growth> {
        self.file.growth_needed()
    }

    pub fn grown(&mut self, growth: &Growth) {
        self.file.grown(growth)
    }

    /// Stops appends; returns the length to trim the file to.
    pub fn seal(&mut self) -> u64 {
        self.file.seal()
    }

    pub fn is_sealed(&self) -> bool {
        self.file.is_sealed()
    }

    pub fn flush_async(&self) -> io::Result<()> {
        self.file.flush_async()
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::index_file::trim;
    use crate::log::io::SystemFileOps;

    #[test]
    fn lookups_find_the_floor_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut index =
            OffsetIndex::create(&SystemFileOps, &dir.path().join("i"), 100, 80).unwrap();
        assert_eq!(
            index.lookup(150),
            OffsetPosition {
                offset: 100,
                position: 0
            }
        );
        for (o, p) in [(109, 5000), (119, 9000), (129, 14000)] {
            assert!(index.append(o, p));
        }
        assert_eq!(index.lookup(100).position, 0);
        assert_eq!(index.lookup(109).position, 5000);
        assert_eq!(index.lookup(125).position, 9000);
        assert_eq!(index.lookup(1_000).position, 14000);
        assert_eq!(index.floor_by_position(10_000).unwrap().offset, 119);
        assert!(index.floor_by_position(10).is_none());
        index.check(20_000, 130).unwrap();
        assert!(index.check(10_000, 130).is_err());
        index.truncate_to(119);
        assert_eq!(index.len(), 1);
        assert_eq!(index.last_entry().unwrap().offset, 109);
    }

    #[test]
    fn the_file_grows_in_allocated_steps_and_sealing_trims_it() {
        let ops = SystemFileOps;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i");
        let mut index = OffsetIndex::create(&ops, &path, 0, 1024 * 1024).unwrap();
        // Only the first step is on disk, however large the index may become.
        let len = || std::fs::metadata(&path).unwrap().len();
        assert_eq!(len(), crate::log::index_file::INITIAL_BYTES as u64);
        let mut appended = 0u32;
        loop {
            if let Some(growth) = index.growth_needed() {
                growth.apply(&ops).unwrap();
                index.grown(&growth);
            }
            if !index.append(i64::from(appended) * 10, (appended + 1) * 100) {
                break;
            }
            appended += 1;
            if appended == 2000 {
                break;
            }
        }
        assert_eq!(appended, 2000, "growth made room for every entry");
        assert!(len() >= 2001 * 8 && len() <= 4 * 2001 * 8, "{}", len());
        let trimmed = index.seal();
        trim(&ops, &path, trimmed).unwrap();
        assert_eq!(len(), 2000 * 8);
        assert_eq!(index.lookup(155).position, 1600);
        assert!(
            !index.append(100_000, 1_000_000),
            "a sealed index takes no entries"
        );
        drop(index);
        let reopened = OffsetIndex::open_sealed(&ops, &path, 0).unwrap();
        assert_eq!(reopened.len(), 2000);
        let mut writable = reopened.reopen_writable(&ops, 8 * 2003).unwrap();
        assert!(writable.append(20_000, 300_000));
        assert!(!writable.is_full());
        assert!(writable.append(20_010, 300_100));
        assert!(writable.is_full(), "the last entry is kept for a final one");
    }

    #[test]
    fn without_growth_an_index_only_skips_entries() {
        let ops = SystemFileOps;
        let dir = tempfile::tempdir().unwrap();
        let mut index = OffsetIndex::create(&ops, &dir.path().join("i"), 0, 1 << 20).unwrap();
        let room = crate::log::index_file::INITIAL_BYTES / ENTRY_SIZE - 1;
        for i in 0..room {
            assert!(index.append(i as i64, i as u32 + 1));
        }
        assert!(index.growth_needed().is_some());
        assert!(!index.append(room as i64, room as u32 + 1));
        assert!(!index.is_full(), "not full: it can still grow");
        assert_eq!(index.len(), room);
    }
}
