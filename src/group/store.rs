//! Where group state lives on disk: the internal topic `__consumer_offsets`, one of whose
//! partitions holds each group (chosen by the group id's Java hash, as Kafka chooses it, so the
//! coordinator of a group is the leader of that partition). Records are keyed by group (membership)
//! or by group, topic and partition (committed offsets), in Kafka's own format (see
//! [`super::records`]); a null value deletes a key.

use std::io;
use std::sync::Arc;

use super::records::{GroupKey, GroupValue, OffsetValue};
use crate::partition::{Partition, PartitionError, ReplicaManager};
use crate::record::batch::{self, NewRecord, ProducerFields};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Access to the `__consumer_offsets` partitions this broker leads.
pub trait OffsetsPartitions: Send + Sync {
    /// The partition, if it exists here and this broker leads it.
    fn get(&self, partition: i32) -> Option<Arc<Partition>>;
}

impl OffsetsPartitions for ReplicaManager {
    fn get(&self, partition: i32) -> Option<Arc<Partition>> {
        ReplicaManager::get(self, OFFSETS_TOPIC, partition).filter(|p| p.is_leader())
    }
}

/// Java's `String.hashCode`: over UTF-16 code units, wrapping.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition that holds `group` (Kafka's `Utils.abs(hash) % partitions`).
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    (java_string_hash(group) & 0x7fff_ffff) % partitions.max(1)
}

/// One change to write: a key and its new value (`None` deletes it).
pub enum Change {
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    Group {
        group: String,
        value: Option<GroupValue>,
    },
}

impl Change {
    fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Change::Offset {
                group,
                topic,
                partition,
                value,
            } => (
                GroupKey::Offset {
                    group: group.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                }
                .encode(),
                value.as_ref().map(OffsetValue::encode),
            ),
            Change::Group { group, value } => (
                GroupKey::Group {
                    group: group.clone(),
                }
                .encode(),
                value.as_ref().map(GroupValue::encode),
            ),
        }
    }
}

/// Appends `changes` as one batch to the group's partition; returns the offset after it (what to
/// wait for to know the changes are durable).
pub fn append(
    partition: &Arc<Partition>,
    changes: &[Change],
    now_ms: i64,
) -> Result<i64, PartitionError> {
    let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = changes.iter().map(Change::encode).collect();
    let records: Vec<NewRecord<'_>> = encoded
        .iter()
        .map(|(key, value)| NewRecord {
            key: Some(key),
            value: value.as_deref(),
            ..NewRecord::default()
        })
        .collect();
    let bytes = batch::build(0, now_ms, ProducerFields::NONE, &records);
    let outcome = partition.append_as_leader(&bytes, -1, now_ms)?;
    Ok(outcome.last_offset + 1)
}

/// Replays a partition: every key with its latest value, in log order (`None`: deleted).
pub fn replay(
    partition: &Partition,
    mut visit: impl FnMut(GroupKey, Option<Vec<u8>>),
) -> io::Result<usize> {
    partition.log().for_each_record(|record| {
        let Some(key) = record.key else { return Ok(()) };
        match GroupKey::decode(&key) {
            Ok(key) => visit(key, record.value),
            Err(e) => tracing::warn!(offset = record.offset, error = %e, "skipping an unreadable group record"),
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_java() {
        // Values of "...".hashCode() in Java.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("group"), 98_629_247);
        assert_eq!(java_string_hash("console-consumer-12345"), 158_455_506);
        // Characters outside the BMP hash as their two UTF-16 surrogates.
        assert_eq!(java_string_hash("é€𝄞"), 16_751_501);
        assert_eq!(partition_for("group", 50), 98_629_247 % 50);
        assert_eq!(partition_for("a", 50), 97 % 50);
        // Kafka's abs keeps the low 31 bits, so even i32::MIN maps to a partition.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }
}
