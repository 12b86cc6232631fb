//! Offset checkpoint files: one offset per partition, kept per data directory
//! (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
//! `replication-offset-checkpoint`).
//!
//! The format is Kafka's text format: a version line (`0`), an entry-count line, then one
//! `topic partition offset` line per partition. A file is replaced atomically: written to
//! `<name>.tmp`, fsynced, renamed over the old one, and the directory fsynced, so a crash leaves
//! either the old or the new file, never a mix.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

use super::io::{FileOps, write_file_atomically};

/// A partition: topic name and partition index.
pub type TopicPartition = (String, i32);

const VERSION: &str = "0";

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Reads a checkpoint file; a missing file is an empty checkpoint.
pub fn read(path: &Path) -> io::Result<HashMap<TopicPartition, i64>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    let mut lines = text.lines();
    if lines.next() != Some(VERSION) {
        return Err(invalid(path, "unknown checkpoint version"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| invalid(path, "missing entry count"))?;
    let mut entries = HashMap::new();
    for line in lines.by_ref().take(count) {
        let mut fields = line.rsplitn(3, ' ');
        let (Some(offset), Some(partition), Some(topic)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(invalid(path, format!("malformed line {line:?}")));
        };
        let offset: i64 = offset
            .parse()
            .map_err(|_| invalid(path, format!("bad offset in {line:?}")))?;
        let partition: i32 = partition
            .parse()
            .map_err(|_| invalid(path, format!("bad partition in {line:?}")))?;
        entries.insert((topic.to_string(), partition), offset);
    }
    if entries.len() != count || lines.next().is_some_and(|l| !l.trim().is_empty()) {
        return Err(invalid(path, format!("expected {count} entries")));
    }
    Ok(entries)
}

/// Replaces the checkpoint file at `path` with `entries`, durably.
pub fn write<'a>(
    ops: &dyn FileOps,
    path: &Path,
    entries: impl IntoIterator<Item = (&'a str, i32, i64)>,
) -> io::Result<()> {
    let mut body = String::new();
    let mut count = 0usize;
    for (topic, partition, offset) in entries {
        body.push_str(&format!("{topic} {partition} {offset}\n"));
        count += 1;
    }
    let text = format!("{VERSION}\n{count}\n{body}");
    write_file_atomically(ops, path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_including_topics_with_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery-point-offset-checkpoint");
        assert!(read(&path).unwrap().is_empty());
        write(
            &super::super::io::SystemFileOps,
            &path,
            [("orders", 0, 42), ("a-b.c_d", 12, 7)],
        )
        .unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[&("a-b.c_d".to_string(), 12)], 7);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().next(),
            Some("0")
        );
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn rejects_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        for text in [
            "1\n0\n",
            "0\n2\nt 0 1\n",
            "0\n1\nt x 1\n",
            "0\nx\n",
            "0\n1\nt 0 1\nu 0 2\n",
        ] {
            std::fs::write(&path, text).unwrap();
            assert!(read(&path).is_err(), "{text:?} was accepted");
        }
    }
}
