//! Metadata records: the changes that build the metadata image, in the order the metadata log holds
//! them. Each record is stored as the JSON value of one record in the `__cluster_metadata-0` log, so
//! the log is readable with any Kafka tool and a replicated quorum can later carry the same records.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    /// A topic was created (its partitions follow as `Partition` records).
    Topic { name: String, id: Uuid },
    /// A partition's assignment, leader and epoch (added or changed).
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    },
    /// A topic configuration override was set (`Some`) or removed (`None`).
    TopicConfig {
        topic_id: Uuid,
        key: String,
        value: Option<String>,
    },
    /// A topic was deleted.
    RemoveTopic { id: Uuid },
    /// Producer ids below this are taken.
    ProducerIds { next_producer_id: i64 },
}

impl MetadataRecord {
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data to JSON cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_as_json() {
        let r = MetadataRecord::TopicConfig {
            topic_id: Uuid::nil(),
            key: "k".into(),
            value: None,
        };
        let bytes = r.encode();
        assert!(
            std::str::from_utf8(&bytes)
                .unwrap()
                .contains("\"type\":\"topic_config\"")
        );
        assert_eq!(MetadataRecord::decode(&bytes).unwrap(), r);
        assert!(MetadataRecord::decode(b"{\"type\":\"nope\"}").is_err());
    }
}
