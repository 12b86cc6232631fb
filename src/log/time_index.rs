//! The sparse time index of one segment (`<base offset>.timeindex`).
//!
//! Each 12-byte entry is `timestamp: i64, relative offset: u32`, big-endian: the largest timestamp
//! seen in the segment so far and the offset of the batch that carried it. Entries are written beside
//! offset-index entries, only when the timestamp grows, so both fields never decrease. To find the
//! first record at or after time T, take the last entry with a timestamp at or below T (every record
//! up to its offset is no later than T), then scan batches forward from there.

use std::io;
use std::path::Path;

use super::index_file::{Growth, IndexFile};
use super::io::FileOps;

pub const ENTRY_SIZE: usize = 12;

pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

/// One time index entry, with the offset made absolute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

fn timestamp_of(e: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&e[..8]);
    i64::from_be_bytes(b)
}

impl TimeIndex {
    pub fn create(
        ops: &dyn FileOps,
        path: &Path,
        base_offset: i64,
        max_bytes: usize,
    ) -> io::Result<Self> {
        Ok(TimeIndex {
            base_offset,
            file: IndexFile::create(ops, path, ENTRY_SIZE, max_bytes)?,
        })
    }

    pub fn open_sealed(ops: &dyn FileOps, path: &Path, base_offset: i64) -> io::Result<Self> {
        Ok(TimeIndex {
            base_offset,
            file: IndexFile::open_sealed(ops, path, ENTRY_SIZE)?,
        })
    }

    pub fn reopen_writable(self, ops: &dyn FileOps, max_bytes: usize) -> io::Result<Self> {
        Ok(TimeIndex {
            base_offset: self.base_offset,
            file: self.file.reopen_writable(ops, max_bytes)?,
        })
    }

    fn get(&self, i: usize) -> TimestampOffset {
        let e = self.file.entry(i);
        TimestampOffset {
            timestamp: timestamp_of(e),
            offset: self.base_offset + i64::from(u32::from_be_bytes([e[8], e[9], e[10], e[11]])),
        }
    }

    /// Checks that entries never decrease and point inside the segment.
    pub fn check(&self, next_offset: i64) -> Result<(), String> {
        let mut previous: Option<TimestampOffset> = None;
        for i in 0..self.file.len() {
            let entry = self.get(i);
            if entry.offset >= next_offset {
                return Err(format!("entry {i} {entry:?} lies outside the segment"));
            }
            if let Some(p) = previous
                && (entry.timestamp < p.timestamp || entry.offset < p.offset)
            {
                return Err(format!("entry {i} {entry:?} does not follow {p:?}"));
            }
            previous = Some(entry);
        }
        Ok(())
    }

    /// The last entry whose timestamp is at or below `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> Option<TimestampOffset> {
        self.file
            .floor(timestamp, timestamp_of)
            .map(|i| self.get(i))
    }

    pub fn last_entry(&self) -> Option<TimestampOffset> {
        self.file.len().checked_sub(1).map(|i| self.get(i))
    }

    /// Records that the largest timestamp so far is `timestamp`, first seen at `offset`, unless the
    /// last entry already says as much. Returns `false` only when there is no room.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> bool {
        match self.entry_for(timestamp, offset) {
            Some(entry) => self.file.push(&entry),
            None => true,
        }
    }

    /// [`TimeIndex::maybe_append`] for the final entry of a segment being sealed, which may take
    /// the spare room kept for it.
    pub fn append_final(&mut self, timestamp: i64, offset: i64) -> bool {
        match self.entry_for(timestamp, offset) {
            Some(entry) => self.file.push_final(&entry),
            None => true,
        }
    }

    fn entry_for(&self, timestamp: i64, offset: i64) -> Option<[u8; ENTRY_SIZE]> {
        if let Some(last) = self.last_entry()
            && (timestamp <= last.timestamp || offset < last.offset)
        {
            return None;
        }
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        Some(entry)
    }

    /// Drops every entry for offsets at or above `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        let mut keep = self.file.len();
        while keep > 0 && self.get(keep - 1).offset >= offset {
            keep -= 1;
        }
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

    #[test]
    fn entries_only_grow_and_lookups_take_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TimeIndex::create(
            &crate::log::io::SystemFileOps,
            &dir.path().join("t"),
            50,
            12 * 10,
        )
        .unwrap();
        assert!(index.lookup(0).is_none());
        index.maybe_append(1000, 55);
        index.maybe_append(900, 60); // older timestamp: ignored
        index.maybe_append(2000, 70);
        assert_eq!(index.len(), 2);
        assert_eq!(index.lookup(999), None);
        assert_eq!(index.lookup(1500).unwrap().offset, 55);
        assert_eq!(
            index.lookup(5000).unwrap(),
            TimestampOffset {
                timestamp: 2000,
                offset: 70
            }
        );
        index.check(71).unwrap();
        assert!(index.check(70).is_err());
        index.truncate_to(70);
        assert_eq!(index.last_entry().unwrap().offset, 55);
    }
}
