//! `meta.properties`: the identity a log directory carries, as Kafka's storage tool writes it
//! (`version=1`, `cluster.id`, `node.id`, `directory.id`). It keeps a directory from being used by
//! another node or joined to another cluster's data by mistake.
//!
//! kafe formats directories itself on first start: a single node makes a new cluster id when no
//! directory has one; a cluster member leaves new directories unformatted until the metadata quorum
//! has agreed on the cluster id, then adopts it ([`adopt`]).
//! What it refuses, with a message saying why: a directory that already holds partition logs but has
//! no `meta.properties` (Kafka refuses it too: its data cannot be vouched for), one that names
//! another node, and directories that disagree on the cluster.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::io::{FileOps, write_file_atomically};

pub const FILE_NAME: &str = "meta.properties";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    pub directory_id: String,
}

fn refuse(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Parses Java `.properties` text (`key=value` lines, `#` comments).
fn properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Reads `meta.properties` of `dir`, if it has one.
pub fn read(dir: &Path) -> io::Result<Option<MetaProperties>> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let props = properties(&text);
    let cluster_id = props
        .get("cluster.id")
        .filter(|c| !c.is_empty())
        .cloned()
        .ok_or_else(|| refuse(format!("{} has no cluster.id", path.display())))?;
    let node_id = props
        .get("node.id")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| refuse(format!("{} has no valid node.id", path.display())))?;
    Ok(Some(MetaProperties {
        cluster_id,
        node_id,
        directory_id: props.get("directory.id").cloned().unwrap_or_default(),
    }))
}

/// Writes `meta.properties` into `dir`, durably.
pub fn write(ops: &dyn FileOps, dir: &Path, meta: &MetaProperties) -> io::Result<()> {
    let text = format!(
        "#\n# written by kafe\ncluster.id={}\ndirectory.id={}\nnode.id={}\nversion=1\n",
        meta.cluster_id, meta.directory_id, meta.node_id
    );
    write_file_atomically(ops, &dir.join(FILE_NAME), text.as_bytes())
}

/// A Kafka-style id: a random UUID in URL-safe base64 without padding (22 characters).
pub fn new_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = String::with_capacity(22);
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    out
}

/// Checks every directory's identity against `node_id` and the others, and formats the ones that
/// have none with the cluster id the others have. When none has one, `new_cluster` says whether to
/// make a new id (a single node) or leave them for [`adopt`] (a cluster member, whose cluster id the
/// quorum decides). `holds_logs` tells whether a directory already contains partition logs.
/// Returns the cluster id, if known.
pub fn check_and_format(
    ops: &dyn FileOps,
    dirs: &[&Path],
    node_id: i32,
    new_cluster: bool,
    holds_logs: impl Fn(&Path) -> io::Result<bool>,
) -> io::Result<Option<String>> {
    let mut cluster: Option<(String, &Path)> = None;
    let mut missing = Vec::new();
    for dir in dirs {
        match read(dir)? {
            Some(meta) => {
                if meta.node_id != node_id {
                    return Err(refuse(format!(
                        "{} belongs to node {}, but this broker is node {node_id} (node.id)",
                        dir.join(FILE_NAME).display(),
                        meta.node_id
                    )));
                }
                match &cluster {
                    Some((id, other)) if *id != meta.cluster_id => {
                        return Err(refuse(format!(
                            "{} holds data of cluster {}, but {} holds data of cluster {id}",
                            dir.display(),
                            meta.cluster_id,
                            other.display()
                        )));
                    }
                    Some(_) => {}
                    None => cluster = Some((meta.cluster_id, dir)),
                }
            }
            None if holds_logs(dir)? => {
                return Err(refuse(format!(
                    "{} holds partition logs but no {FILE_NAME}: refusing to adopt data whose \
                     cluster and node are unknown (restore the file, or move the logs away)",
                    dir.display()
                )));
            }
            None => missing.push(*dir),
        }
    }
    let cluster_id = match cluster {
        Some((id, _)) => id,
        None if new_cluster => new_id(),
        None => return Ok(None),
    };
    for dir in missing {
        write(
            ops,
            dir,
            &MetaProperties {
                cluster_id: cluster_id.clone(),
                node_id,
                directory_id: new_id(),
            },
        )?;
    }
    Ok(Some(cluster_id))
}

/// Formats the directories that have no identity with `cluster_id` (the quorum's), after checking
/// that none belongs to another cluster.
pub fn adopt(ops: &dyn FileOps, dirs: &[&Path], node_id: i32, cluster_id: &str) -> io::Result<()> {
    let mut missing = Vec::new();
    for dir in dirs {
        match read(dir)? {
            Some(meta) if meta.cluster_id != cluster_id => {
                return Err(refuse(format!(
                    "{} holds data of cluster {}, but the metadata quorum is cluster {cluster_id}",
                    dir.display(),
                    meta.cluster_id
                )));
            }
            Some(_) => {}
            None => missing.push(*dir),
        }
    }
    for dir in missing {
        write(
            ops,
            dir,
            &MetaProperties {
                cluster_id: cluster_id.to_string(),
                node_id,
                directory_id: new_id(),
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::io::SystemFileOps;

    #[test]
    fn directories_are_formatted_once_and_checked_after() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let dirs = [a.path(), b.path()];
        let no_logs = |_: &Path| Ok(false);
        assert_eq!(
            check_and_format(&SystemFileOps, &dirs, 3, false, no_logs).unwrap(),
            None,
            "a cluster member waits for the quorum's cluster id"
        );
        assert!(read(a.path()).unwrap().is_none());
        let id = check_and_format(&SystemFileOps, &dirs, 3, true, no_logs)
            .unwrap()
            .unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(read(a.path()).unwrap().unwrap().cluster_id, id);
        assert_eq!(
            check_and_format(&SystemFileOps, &dirs, 3, false, no_logs).unwrap(),
            Some(id.clone()),
            "the cluster id is kept"
        );
        let err = check_and_format(&SystemFileOps, &dirs, 4, true, no_logs).unwrap_err();
        assert!(err.to_string().contains("belongs to node 3"), "{err}");
        // Another cluster's directory next to this one's.
        let c = tempfile::tempdir().unwrap();
        check_and_format(&SystemFileOps, &[c.path()], 3, true, no_logs).unwrap();
        let err =
            check_and_format(&SystemFileOps, &[a.path(), c.path()], 3, true, no_logs).unwrap_err();
        assert!(err.to_string().contains("cluster"), "{err}");
        // Logs without an identity are refused.
        let d = tempfile::tempdir().unwrap();
        let err = check_and_format(&SystemFileOps, &[d.path()], 3, true, |_| Ok(true)).unwrap_err();
        assert!(err.to_string().contains("no meta.properties"), "{err}");
    }

    #[test]
    fn a_cluster_member_adopts_the_quorums_cluster_id_and_refuses_another() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        adopt(&SystemFileOps, &[a.path()], 2, "quorum-id").unwrap();
        assert_eq!(read(a.path()).unwrap().unwrap().cluster_id, "quorum-id");
        adopt(&SystemFileOps, &[a.path(), b.path()], 2, "quorum-id").unwrap();
        assert_eq!(read(b.path()).unwrap().unwrap().node_id, 2);
        let err = adopt(&SystemFileOps, &[a.path()], 2, "other-id").unwrap_err();
        assert!(
            err.to_string().contains("holds data of cluster quorum-id"),
            "{err}"
        );
    }
}
