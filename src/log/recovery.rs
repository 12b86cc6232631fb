//! Walking a segment's `.log` file batch by batch: recovery after an unclean stop, index rebuilds, and
//! finding where a segment ends.
//!
//! The scan checks each batch's framing (length within the file, magic 2, offsets increasing and
//! inside the segment's relative-offset range) and, when asked, its CRC-32C. It stops at the first
//! batch that fails; everything before that byte is good. The caller decides what to do with the
//! rest: recovery cuts it off, an index rebuild of a flushed segment only reports it.

use std::io;

use super::io::{FileOps, Target};

use crate::record::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    /// Bytes from the start of the file covered by whole, valid batches.
    pub valid_bytes: u64,
    /// Batches in those bytes.
    pub batches: u64,
    /// The offset after the last valid batch, if there was one.
    pub next_offset: Option<i64>,
    /// Why the scan stopped before the end of the file, if it did.
    pub stopped_early: Option<String>,
}

/// How much of a segment a scan reads per system call (more when one batch is larger).
const SCAN_CHUNK: usize = 1024 * 1024;

/// Scans the first `len` bytes of `file` (a segment starting at `base_offset`), calling `visit`
/// with each valid batch and its position.
pub fn scan(
    ops: &dyn FileOps,
    file: Target<'_>,
    len: u64,
    base_offset: i64,
    verify_crc: bool,
    mut visit: impl FnMut(&BatchHeader, u64),
) -> io::Result<ScanReport> {
    let mut report = ScanReport {
        valid_bytes: 0,
        batches: 0,
        next_offset: None,
        stopped_early: None,
    };
    let mut window = Window::default();
    let mut pos = 0u64;
    let mut expected_min_offset = base_offset;
    while pos < len {
        // The header first, then the whole batch it declares (never more than the file holds).
        let header_len = (len - pos).min(HEADER_LEN as u64) as usize;
        let head = window.get(ops, file, len, pos, header_len)?;
        let declared = match BatchHeader::parse(head) {
            Ok(h) => h.total_size().min((len - pos) as usize),
            Err(_) => head.len(),
        };
        let data = window.get(ops, file, len, pos, declared)?;
        match check_batch_at(data, pos, base_offset, expected_min_offset, verify_crc) {
            Ok(header) => {
                visit(&header, pos);
                pos += header.total_size() as u64;
                expected_min_offset = header.next_offset();
                report.batches += 1;
                report.next_offset = Some(header.next_offset());
            }
            Err(reason) => {
                report.stopped_early = Some(reason);
                break;
            }
        }
    }
    report.valid_bytes = pos;
    Ok(report)
}

/// A read-ahead window over a file.
#[derive(Default)]
struct Window {
    buf: Vec<u8>,
    start: u64,
}

impl Window {
    /// The `n` bytes at `pos` (`pos + n <= len`), reading a chunk when they are not buffered.
    fn get(
        &mut self,
        ops: &dyn FileOps,
        file: Target<'_>,
        len: u64,
        pos: u64,
        n: usize,
    ) -> io::Result<&[u8]> {
        debug_assert!(pos + n as u64 <= len);
        let end = self.start + self.buf.len() as u64;
        if pos < self.start || pos + n as u64 > end {
            let want = n.max(SCAN_CHUNK).min((len - pos) as usize);
            self.buf.resize(want, 0);
            ops.read_at(file, &mut self.buf, pos)?;
            self.start = pos;
        }
        let at = (pos - self.start) as usize;
        Ok(&self.buf[at..at + n])
    }
}

fn check_batch_at(
    rest: &[u8],
    pos: u64,
    base_offset: i64,
    min_offset: i64,
    verify_crc: bool,
) -> Result<BatchHeader, String> {
    if rest.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes at position {pos} are less than a batch header",
            rest.len()
        ));
    }
    let header = BatchHeader::parse(rest).map_err(|e| format!("at position {pos}: {e}"))?;
    let size = header.total_size();
    if size > rest.len() {
        return Err(format!(
            "batch at position {pos} declares {size} bytes but only {} remain",
            rest.len()
        ));
    }
    if header.base_offset < min_offset || header.last_offset_delta < 0 {
        return Err(format!(
            "batch at position {pos} has offsets {}..={} where at least {min_offset} was expected",
            header.base_offset,
            header.last_offset()
        ));
    }
    if header.last_offset() - base_offset > i64::from(u32::MAX) {
        return Err(format!(
            "batch at position {pos} ends at offset {}, beyond this segment's range",
            header.last_offset()
        ));
    }
    if verify_crc {
        batch::validate(&rest[..size]).map_err(|e| format!("at position {pos}: {e}"))?;
    }
    debug_assert!(size >= LOG_OVERHEAD);
    debug_assert!(size <= rest.len());
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::super::io::SystemFileOps;
    use super::*;
    use crate::record::batch::testing::batch;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, std::fs::File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        (dir, file)
    }

    fn scan_file(
        f: &std::fs::File,
        base: i64,
        crc: bool,
        visit: impl FnMut(&BatchHeader, u64),
    ) -> io::Result<ScanReport> {
        let path = std::path::Path::new("s.log");
        let len = f.metadata().unwrap().len();
        scan(
            &SystemFileOps,
            Target { file: f, path },
            len,
            base,
            crc,
            visit,
        )
    }

    #[test]
    fn stops_at_the_first_torn_or_corrupt_batch() {
        let mut bytes = batch(10, 1, &[b"a", b"b"]);
        let first = bytes.len() as u64;
        bytes.extend_from_slice(&batch(12, 1, &[b"c"]));
        let whole = bytes.len();
        bytes.extend_from_slice(&batch(13, 1, &[b"d"])[..20]);
        let (_d, f) = file_with(&bytes);
        let mut seen = vec![];
        let r = scan_file(&f, 10, true, |h, p| seen.push((h.base_offset, p))).unwrap();
        assert_eq!(seen, vec![(10, 0), (12, first)]);
        assert_eq!(r.valid_bytes, whole as u64);
        assert_eq!(r.next_offset, Some(13));
        assert!(r.stopped_early.is_some());

        let mut corrupt = bytes[..whole].to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let (_d, f) = file_with(&corrupt);
        let r = scan_file(&f, 10, true, |_, _| {}).unwrap();
        assert_eq!(r.valid_bytes, first);
        // Without CRC checks the same file reads as whole.
        let r = scan_file(&f, 10, false, |_, _| {}).unwrap();
        assert_eq!(r.valid_bytes, whole as u64);
    }

    #[test]
    fn offsets_must_increase() {
        let mut bytes = batch(5, 1, &[b"a", b"b"]);
        bytes.extend_from_slice(&batch(6, 1, &[b"c"]));
        let (_d, f) = file_with(&bytes);
        let r = scan_file(&f, 5, true, |_, _| {}).unwrap();
        assert_eq!(r.batches, 1);
        assert_eq!(r.next_offset, Some(7));
    }
}
