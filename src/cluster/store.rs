//! The durable home of the metadata image: metadata records appended to the internal log
//! `__cluster_metadata-0` through the log engine, fsynced before a change is applied, and replayed at
//! start-up. On one node this log is a quorum of one; replication will carry the same records.
//!
//! The log lives in `metadata.log.dir` (by default the first log directory); the cluster id comes
//! from the directories' `meta.properties` (see [`crate::log::meta_properties`]).

use std::io;
use std::sync::Arc;

use parking_lot::RwLock;
use tracing::info;

use super::image::{BrokerInfo, MetadataImage};
use super::records::MetadataRecord;
use crate::log::io::{Severity, classify};
use crate::log::{Log, LogConfig, LogError, LogManager};
use crate::record::batch::{self, NewRecord, ProducerFields};

/// The internal topic holding metadata records.
pub use crate::log::manager::METADATA_TOPIC;

/// The log configuration of the metadata log: never deleted by retention.
pub fn metadata_log_config() -> LogConfig {
    LogConfig {
        segment_bytes: 64 * 1024 * 1024,
        retention_ms: -1,
        retention_bytes: -1,
        segment_index_bytes: 1024 * 1024,
        ..crate::config::topic::default_log_config()
    }
}

pub struct MetadataStore {
    logs: Arc<LogManager>,
    log: Arc<Log>,
    image: RwLock<Arc<MetadataImage>>,
    /// One change at a time, so that the image applies records in log order.
    writer: tokio::sync::Mutex<()>,
}

impl MetadataStore {
    /// Opens the metadata log and replays it. `brokers` are the brokers known from configuration
    /// (on one node: this one).
    pub fn open(
        logs: &Arc<LogManager>,
        node_id: i32,
        brokers: Vec<BrokerInfo>,
        now_ms: i64,
    ) -> io::Result<MetadataStore> {
        let cluster_id = logs.cluster_id().to_string();
        let log = logs.get_or_create(METADATA_TOPIC, 0, metadata_log_config(), now_ms)?;
        log.set_config(metadata_log_config());
        let mut image = MetadataImage {
            cluster_id,
            controller_id: node_id,
            brokers: brokers.into_iter().map(|b| (b.id, b)).collect(),
            last_offset: -1,
            ..MetadataImage::default()
        };
        let replayed = replay(&log, &mut image)?;
        info!(
            records = replayed,
            topics = image.topics.len(),
            "replayed cluster metadata"
        );
        Ok(MetadataStore {
            logs: Arc::clone(logs),
            log,
            image: RwLock::new(Arc::new(image)),
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.read())
    }

    /// The image `records` would make, without committing them.
    pub fn preview(&self, records: &[MetadataRecord]) -> MetadataImage {
        let mut next = MetadataImage::clone(&self.image());
        for record in records {
            next.apply(record);
        }
        next
    }

    /// Makes `records` durable as one batch, then applies them; returns the new image. On a full
    /// disk the metadata directory's reserved space is given back and the write tried once more,
    /// so that the change that frees space (deleting a topic) can still be made.
    pub async fn commit(
        &self,
        records: Vec<MetadataRecord>,
        now_ms: i64,
    ) -> io::Result<Arc<MetadataImage>> {
        if records.is_empty() {
            return Ok(self.image());
        }
        let _turn = self.writer.lock().await;
        let encoded: Vec<Vec<u8>> = records.iter().map(MetadataRecord::encode).collect();
        let new_records: Vec<NewRecord<'_>> = encoded
            .iter()
            .map(|value| NewRecord {
                value: Some(value),
                ..NewRecord::default()
            })
            .collect();
        let bytes = batch::build(0, now_ms, ProducerFields::NONE, &new_records);
        let log = Arc::clone(&self.log);
        let logs = Arc::clone(&self.logs);
        let info = tokio::task::spawn_blocking(move || {
            let first = log.append_as_leader(&bytes, 0, now_ms);
            match first {
                Err(LogError::Io(e))
                    if classify(&e) == Severity::Full && logs.release_ballast() =>
                {
                    log.append_as_leader(&bytes, 0, now_ms)
                }
                other => other,
            }
        })
        .await
        .map_err(|e| io::Error::other(format!("metadata append task failed: {e}")))?
        .map_err(|e| io::Error::other(format!("metadata append failed: {e}")))?;
        self.log.flush_up_to(info.last_offset + 1).await?;
        let mut next = self.preview(&records);
        next.last_offset = info.last_offset;
        let next = Arc::new(next);
        *self.image.write() = Arc::clone(&next);
        Ok(next)
    }
}

/// Applies every record in the log to `image`; returns how many there were.
fn replay(log: &Log, image: &mut MetadataImage) -> io::Result<usize> {
    log.for_each_record(|record| {
        let value = record.value.unwrap_or_default();
        let parsed = MetadataRecord::decode(&value).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "metadata record at offset {} is not understood: {e}",
                    record.offset
                ),
            )
        })?;
        image.apply(&parsed);
        image.last_offset = record.offset;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const T0: i64 = 1_700_000_000_000;

    fn broker() -> Vec<BrokerInfo> {
        vec![BrokerInfo {
            id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
            rack: None,
        }]
    }

    #[tokio::test]
    async fn committed_records_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        let cluster_id = {
            let logs = crate::testing::logs(dir.path());
            let store = MetadataStore::open(&logs, 0, broker(), T0).unwrap();
            let image = store
                .commit(
                    vec![
                        MetadataRecord::Topic {
                            name: "orders".into(),
                            id,
                        },
                        MetadataRecord::Partition {
                            topic_id: id,
                            partition: 0,
                            replicas: vec![0],
                            isr: vec![0],
                            leader: 0,
                            leader_epoch: 0,
                        },
                    ],
                    T0,
                )
                .await
                .unwrap();
            assert_eq!(image.topic("orders").unwrap().partitions.len(), 1);
            assert_eq!(image.cluster_id.len(), 22);
            image.cluster_id.clone()
            // No clean shutdown: the records were fsynced before commit returned.
        };
        let logs = crate::testing::logs(dir.path());
        let store = MetadataStore::open(&logs, 0, broker(), T0).unwrap();
        let image = store.image();
        assert_eq!(image.cluster_id, cluster_id);
        assert_eq!(image.topic("orders").unwrap().id, id);
        drop(store);
        drop(logs);
        let layout = crate::log::Layout {
            node_id: 7,
            ..crate::log::Layout::single(dir.path())
        };
        assert!(
            LogManager::open(&layout, |_| crate::config::topic::default_log_config(), T0).is_err(),
            "another node id must be refused"
        );
    }
}
