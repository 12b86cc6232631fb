//! The partitions this broker hosts, kept in step with the metadata image: a partition whose
//! replicas include this broker gets a log and a [`Partition`]; a partition that left the image has
//! its log deleted. Lookups by topic name take no allocation and no global lock on the hot path
//! beyond a read lock.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;

use parking_lot::RwLock;
use tracing::{info, warn};

use super::Partition;
use crate::cluster::MetadataImage;
use crate::cluster::store::METADATA_TOPIC;
use crate::config::BrokerConfig;
use crate::log::LogManager;

pub struct ReplicaManager {
    local_broker: i32,
    logs: Arc<LogManager>,
    /// Topic name -> partitions by index (`None` where this broker holds no replica).
    topics: RwLock<HashMap<String, Vec<Option<Arc<Partition>>>>>,
    /// High watermarks from the previous run, used when a partition is first loaded.
    checkpointed_high_watermarks: HashMap<(String, i32), i64>,
}

impl ReplicaManager {
    pub fn new(local_broker: i32, logs: Arc<LogManager>) -> ReplicaManager {
        let checkpointed_high_watermarks = logs.read_high_watermarks();
        ReplicaManager {
            local_broker,
            logs,
            topics: RwLock::new(HashMap::new()),
            checkpointed_high_watermarks,
        }
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let index = usize::try_from(partition).ok()?;
        self.topics.read().get(topic)?.get(index)?.clone()
    }

    /// Every hosted partition.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.topics
            .read()
            .values()
            .flatten()
            .flatten()
            .cloned()
            .collect()
    }

    /// Brings hosted partitions in line with `image`: creates logs and partitions, updates
    /// assignments and log configuration, deletes what the image no longer has. Blocking (file
    /// creation and deletion): call from a blocking context.
    pub fn apply(
        &self,
        image: &MetadataImage,
        config: &BrokerConfig,
        now_ms: i64,
    ) -> io::Result<()> {
        let mut wanted: HashSet<(String, i32)> = HashSet::new();
        for topic in image.topics.values() {
            let topic_config = config.topic_config(&topic.configs).unwrap_or_else(|e| {
                // Overrides are checked when they are set; this only happens if the broker's own
                // settings changed under them since.
                warn!(topic = %topic.name, error = %e, "topic configuration does not resolve; using the broker's defaults");
                config.topic_defaults.clone()
            });
            for (index, info) in topic.partitions.iter().enumerate() {
                if !info.replicas.contains(&self.local_broker) {
                    continue;
                }
                let index = index as i32;
                wanted.insert((topic.name.clone(), index));
                if let Some(existing) = self.get(&topic.name, index)
                    && existing.topic_id() == topic.id
                {
                    existing.update_assignment(info);
                    existing.set_config(&topic_config);
                    continue;
                }
                let log = self.logs.get_or_create(
                    &topic.name,
                    index,
                    topic_config.log.clone(),
                    now_ms,
                )?;
                let high_watermark = self
                    .checkpointed_high_watermarks
                    .get(&(topic.name.clone(), index))
                    .copied()
                    .unwrap_or(0);
                let partition = Arc::new(Partition::new(
                    &topic.name,
                    topic.id,
                    index,
                    self.local_broker,
                    log,
                    info,
                    high_watermark,
                ));
                partition.set_config(&topic_config);
                let mut topics = self.topics.write();
                let slots = topics.entry(topic.name.clone()).or_default();
                if slots.len() <= index as usize {
                    slots.resize(index as usize + 1, None);
                }
                slots[index as usize] = Some(partition);
            }
        }
        // Forget and delete whatever the image no longer holds, including logs left on disk by a
        // deletion that a crash interrupted.
        self.topics.write().retain(|name, slots| {
            for (index, slot) in slots.iter_mut().enumerate() {
                if !wanted.contains(&(name.clone(), index as i32)) {
                    *slot = None;
                }
            }
            slots.iter().any(Option::is_some)
        });
        for (topic, partition) in self.logs.partitions() {
            if topic != METADATA_TOPIC && !wanted.contains(&(topic.clone(), partition)) {
                info!(topic = %topic, partition, "deleting the log of a partition no longer hosted");
                self.logs.delete(&topic, partition)?;
            }
        }
        Ok(())
    }

    /// Writes every hosted partition's high watermark to the checkpoint file.
    pub fn checkpoint_high_watermarks(&self) -> io::Result<()> {
        let partitions = self.all();
        self.logs.write_high_watermarks(
            partitions
                .iter()
                .map(|p| (p.topic(), p.index(), p.high_watermark())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::MetadataRecord;
    use uuid::Uuid;

    const T0: i64 = 1_700_000_000_000;

    fn config() -> BrokerConfig {
        let entries = crate::config::parse_toml(crate::config::EMBEDDED_DEFAULTS, "d").unwrap();
        BrokerConfig::from_entries(entries).unwrap()
    }

    #[test]
    fn partitions_follow_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(
            LogManager::open(
                &crate::log::Layout::single(dir.path()),
                |_| crate::config::topic::default_log_config(),
                T0,
            )
            .unwrap(),
        );
        let manager = ReplicaManager::new(0, Arc::clone(&logs));
        let mut image = MetadataImage::default();
        let id = Uuid::new_v4();
        for r in MetadataRecord::new_topic("a", id, vec![vec![0]; 3], []) {
            image.apply(&r);
        }
        manager.apply(&image, &config(), T0).unwrap();
        assert!(manager.get("a", 2).is_some());
        assert!(manager.get("a", 3).is_none());
        assert!(dir.path().join("a-2").exists());
        image.apply(&MetadataRecord::RemoveTopic { id });
        manager.apply(&image, &config(), T0).unwrap();
        assert!(manager.get("a", 0).is_none());
        assert!(!dir.path().join("a-0").exists());
    }
}
