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
        /// Absent in records written before partition epochs existed.
        #[serde(default)]
        partition_epoch: i32,
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
    /// The cluster's id, committed once by the first quorum leader of a new cluster.
    ClusterId { id: String },
    /// A broker (re)registered: it starts fenced, with a new epoch.
    RegisterBroker {
        id: i32,
        epoch: i64,
        incarnation: Uuid,
        host: String,
        port: u16,
        rack: Option<String>,
    },
    /// The broker's registration of `epoch` may lead and be shown to clients no more.
    FenceBroker { id: i32, epoch: i64 },
    /// The broker's registration of `epoch` has caught up and is live.
    UnfenceBroker { id: i32, epoch: i64 },
    /// The broker was decommissioned.
    UnregisterBroker { id: i32 },
    /// A record of a kind this build does not know (written by a newer kafe). It is read, so that
    /// the batch's format version can say why it cannot be applied, and never applied.
    #[serde(other)]
    Unknown,
}

impl MetadataRecord {
    /// The records that add partitions `first..` with these replica lists (first replica leads, all
    /// in sync, epoch 0).
    pub fn new_partitions(
        topic_id: Uuid,
        first: i32,
        replicas: Vec<Vec<i32>>,
    ) -> Vec<MetadataRecord> {
        replicas
            .into_iter()
            .enumerate()
            .map(|(i, replicas)| MetadataRecord::Partition {
                topic_id,
                partition: first + i as i32,
                leader: replicas.first().copied().unwrap_or(-1),
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
            })
            .collect()
    }

    /// The records that create a topic: the topic, its partitions, its configuration overrides.
    pub fn new_topic<'a>(
        name: &str,
        id: Uuid,
        replicas: Vec<Vec<i32>>,
        configs: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Vec<MetadataRecord> {
        let mut records = vec![MetadataRecord::Topic {
            name: name.to_string(),
            id,
        }];
        records.extend(Self::new_partitions(id, 0, replicas));
        records.extend(
            configs
                .into_iter()
                .map(|(k, v)| MetadataRecord::TopicConfig {
                    topic_id: id,
                    key: k.clone(),
                    value: Some(v.clone()),
                }),
        );
        records
    }

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
    fn a_partition_record_from_before_partition_epochs_still_reads() {
        let old = br#"{"type":"partition","topic_id":"00000000-0000-0000-0000-000000000000","partition":0,"replicas":[1],"isr":[1],"leader":1,"leader_epoch":4}"#;
        match MetadataRecord::decode(old).unwrap() {
            MetadataRecord::Partition {
                leader_epoch,
                partition_epoch,
                ..
            } => assert_eq!((leader_epoch, partition_epoch), (4, 0)),
            other => panic!("{other:?}"),
        }
    }

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
        assert_eq!(
            MetadataRecord::decode(b"{\"type\":\"from_the_future\",\"x\":1}").unwrap(),
            MetadataRecord::Unknown
        );
        assert!(MetadataRecord::decode(b"{\"no_type\":1}").is_err());
    }
}
