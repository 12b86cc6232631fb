//! The partitions this broker hosts, kept in step with the metadata image, and the one place request
//! handlers find a partition through.
//!
//! - As the controller's [`MetadataPublisher`], it creates the logs a change needs before the change
//!   is committed (all or nothing), and applies every committed image as explicit transitions:
//!   a partition whose replicas include this broker is created and becomes leader or follower; a
//!   new leader or epoch means a new transition; a partition that left the image is stopped and its
//!   log deleted. Listeners (the group coordinator for `__consumer_offsets`) hear when this broker
//!   starts or stops leading a partition of their topic.
//! - [`ReplicaManager::leader`] resolves a client's partition the way Kafka does and answers with
//!   Kafka's errors: UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID, NOT_LEADER_OR_FOLLOWER,
//!   FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH, KAFKA_STORAGE_ERROR for an offline log directory.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use tracing::{error, info, warn};
use uuid::Uuid;

use super::{Partition, PartitionError};
use crate::cluster::{MetadataImage, MetadataPublisher, PartitionInfo, TopicInfo};
use crate::config::BrokerConfig;
use crate::log::manager::METADATA_TOPIC;
use crate::log::{LogError, LogManager};

/// A topic as a request names it.
#[derive(Debug, Clone, Copy)]
pub enum TopicRef<'a> {
    Name(&'a str),
    Id(Uuid),
}

/// Told when this broker starts or stops leading a partition of one topic. Blocking calls, made
/// while an image is published.
pub trait LeadershipListener: Send + Sync {
    /// This broker now leads `partition`.
    fn became_leader(&self, partition: &Arc<Partition>);
    /// This broker no longer leads partition `index`.
    fn resigned(&self, index: i32);
}

pub struct ReplicaManager {
    local_broker: i32,
    config: Arc<BrokerConfig>,
    logs: Arc<LogManager>,
    /// The last image published.
    image: RwLock<Arc<MetadataImage>>,
    /// Topic name -> partitions by index (`None` where this broker holds no replica).
    topics: RwLock<HashMap<String, Vec<Option<Arc<Partition>>>>>,
    /// High watermarks from the previous run, used when a partition is first loaded.
    checkpointed_high_watermarks: HashMap<(String, i32), i64>,
    /// Held weakly: the listeners hold this manager, and neither should keep the other alive.
    listeners: RwLock<HashMap<String, Weak<dyn LeadershipListener>>>,
    /// Set while this broker is out of touch with the controller: it leads nothing then, since
    /// other leaders have been elected meanwhile.
    cut_off: std::sync::atomic::AtomicBool,
}

/// The partitions of `image` with a replica on `broker`: (topic, index, topic id).
fn hosted(image: &MetadataImage, broker: i32) -> impl Iterator<Item = (&Arc<TopicInfo>, i32)> {
    image.topics.values().flat_map(move |topic| {
        topic
            .partitions
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.replicas.contains(&broker))
            .map(move |(i, _)| (topic, i as i32))
    })
}

/// Whether `image` has partition `index` of topic `id` with a replica on `broker`.
/// Whether `image` places partition `index` of the topic named `name` on `broker`.
fn hosts_named(image: &MetadataImage, broker: i32, name: &str, index: i32) -> bool {
    image
        .partition(name, index)
        .is_some_and(|p| p.replicas.contains(&broker))
}

fn hosts(image: &MetadataImage, broker: i32, id: Uuid, index: i32) -> bool {
    image
        .topic_by_id(&id)
        .and_then(|t| t.partitions.get(index as usize))
        .is_some_and(|p| p.replicas.contains(&broker))
}

impl ReplicaManager {
    pub fn new(
        local_broker: i32,
        config: Arc<BrokerConfig>,
        logs: Arc<LogManager>,
    ) -> ReplicaManager {
        let checkpointed_high_watermarks = logs.read_high_watermarks();
        ReplicaManager {
            local_broker,
            config,
            logs,
            image: RwLock::new(Arc::new(MetadataImage::default())),
            topics: RwLock::new(HashMap::new()),
            checkpointed_high_watermarks,
            listeners: RwLock::new(HashMap::new()),
            cut_off: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Registers the listener for leadership changes of `topic`'s partitions.
    pub fn listen(&self, topic: &str, listener: &Arc<dyn LeadershipListener>) {
        self.listeners
            .write()
            .insert(topic.to_string(), Arc::downgrade(listener));
    }

    fn listener(&self, topic: &str) -> Option<Arc<dyn LeadershipListener>> {
        self.listeners.read().get(topic).and_then(Weak::upgrade)
    }

    /// The last published image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.read())
    }

    /// The hosted partition, whatever its role.
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

    /// The partition a client request addresses, if this broker leads it in
    /// `current_leader_epoch` (or any epoch, when the client names none).
    pub fn leader(
        &self,
        topic: TopicRef<'_>,
        partition: i32,
        current_leader_epoch: Option<i32>,
    ) -> Result<Arc<Partition>, PartitionError> {
        let image = self.image();
        let info = match topic {
            TopicRef::Name(name) => image
                .topic(name)
                .ok_or(PartitionError::UnknownTopicOrPartition)?,
            TopicRef::Id(id) => image
                .topic_by_id(&id)
                .ok_or(PartitionError::UnknownTopicId)?,
        };
        if usize::try_from(partition)
            .ok()
            .and_then(|i| info.partitions.get(i))
            .is_none()
        {
            return Err(PartitionError::UnknownTopicOrPartition);
        }
        let found = self
            .get(&info.name, partition)
            .filter(|p| p.topic_id() == info.id)
            .ok_or(PartitionError::NotLeaderOrFollower)?;
        if !found.is_online() {
            return Err(PartitionError::Log(LogError::Offline(
                found.log().log_dir().path().to_path_buf(),
            )));
        }
        found.check_leader_epoch(current_leader_epoch)?;
        if !found.is_leader() || self.is_cut_off() {
            return Err(PartitionError::NotLeaderOrFollower);
        }
        Ok(found)
    }

    /// Whether this broker is out of touch with the controller (see [`Self::set_cut_off`]).
    pub fn is_cut_off(&self) -> bool {
        self.cut_off.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks this broker out of touch with the controller, or back: while it is, every lookup of
    /// a partition it leads answers NOT_LEADER_OR_FOLLOWER.
    pub fn set_cut_off(&self, cut_off: bool) {
        self.cut_off
            .store(cut_off, std::sync::atomic::Ordering::Release);
    }

    /// Applies the transition from `old` (none for a new partition) to `new` to one partition.
    fn transition(
        &self,
        partition: &Arc<Partition>,
        old: Option<&PartitionInfo>,
        new: &PartitionInfo,
    ) {
        let same_term =
            old.is_some_and(|o| o.leader == new.leader && o.leader_epoch == new.leader_epoch);
        let listener = self.listener(partition.topic());
        if new.leader == self.local_broker {
            if same_term && partition.is_leader() {
                partition.update_replicas(new);
                return;
            }
            if let Err(e) = partition.become_leader(new) {
                error!(topic = partition.topic(), partition = partition.index(), error = %e,
                    "could not become leader");
                return;
            }
            if let Some(listener) = listener {
                listener.became_leader(partition);
            }
        } else {
            let was_leader = partition.is_leader();
            if same_term && !was_leader {
                partition.update_replicas(new);
                return;
            }
            partition.become_follower(new);
            if was_leader && let Some(listener) = listener {
                listener.resigned(partition.index());
            }
        }
    }

    /// Stops a hosted partition and deletes its log.
    fn stop(&self, partition: &Arc<Partition>) -> io::Result<()> {
        if partition.is_leader()
            && let Some(listener) = self.listener(partition.topic())
        {
            listener.resigned(partition.index());
        }
        info!(
            topic = partition.topic(),
            partition = partition.index(),
            "stopping partition"
        );
        self.logs.delete(partition.topic(), partition.index())
    }

    /// Writes every hosted partition's high watermark to the checkpoint files.
    pub fn checkpoint_high_watermarks(&self) -> io::Result<()> {
        let partitions = self.all();
        self.logs.write_high_watermarks(
            partitions
                .iter()
                .map(|p| (p.topic(), p.index(), p.high_watermark())),
        )
    }
}

impl MetadataPublisher for ReplicaManager {
    fn prepare(&self, current: &MetadataImage, next: &MetadataImage) -> io::Result<()> {
        let mut wanted = Vec::new();
        for change in next.topic_changes(current) {
            let Some(topic) = change.after else { continue };
            for (index, p) in topic.partitions.iter().enumerate() {
                let index = index as i32;
                if !p.replicas.contains(&self.local_broker)
                    || hosts(current, self.local_broker, topic.id, index)
                {
                    continue;
                }
                let log_config = self
                    .config
                    .topic_config(&topic.configs)
                    .map_or_else(|_| self.config.topic_defaults.log.clone(), |c| c.log);
                wanted.push((topic.name.clone(), index, log_config));
            }
        }
        self.logs.create_all(&wanted, crate::clock::now_ms())
    }

    fn abandon(&self, current: &MetadataImage, next: &MetadataImage) {
        for (topic, index) in hosted(next, self.local_broker) {
            if !hosts(current, self.local_broker, topic.id, index)
                && self.get(&topic.name, index).is_none()
                && let Err(e) = self.logs.delete(&topic.name, index)
            {
                warn!(topic = %topic.name, partition = index, error = %e,
                    "could not remove the log of an abandoned change");
            }
        }
    }

    fn publish(&self, previous: &MetadataImage, next: &Arc<MetadataImage>) -> io::Result<()> {
        *self.image.write() = Arc::clone(next);
        let now = crate::clock::now_ms();
        let mut first_error: Option<io::Error> = None;
        // Only the topics the change touched: a change's cost does not grow with the number of
        // topics.
        let changes = next.topic_changes(previous);
        for topic in changes.iter().filter_map(|c| c.after) {
            let topic_config = self.config.topic_config(&topic.configs).unwrap_or_else(|e| {
                // Overrides are checked when they are set; this only happens if the broker's own
                // settings changed under them since.
                warn!(topic = %topic.name, error = %e, "topic configuration does not resolve; using the broker's defaults");
                self.config.topic_defaults.clone()
            });
            let before = previous.topic(&topic.name).filter(|t| t.id == topic.id);
            for (index, info) in topic.partitions.iter().enumerate() {
                if !info.replicas.contains(&self.local_broker) {
                    continue;
                }
                let index = index as i32;
                let old = before.and_then(|t| t.partitions.get(index as usize));
                if let Some(existing) = self
                    .get(&topic.name, index)
                    .filter(|p| p.topic_id() == topic.id)
                {
                    existing.set_config(&topic_config);
                    if old != Some(info) {
                        self.transition(&existing, old, info);
                    }
                    continue;
                }
                let log = match self.logs.get_or_create(
                    &topic.name,
                    index,
                    topic_config.log.clone(),
                    now,
                ) {
                    Ok(log) => log,
                    Err(e) => {
                        error!(topic = %topic.name, partition = index, error = %e, "cannot create the partition's log");
                        first_error.get_or_insert(e);
                        continue;
                    }
                };
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
                    high_watermark,
                ));
                partition.set_config(&topic_config);
                {
                    let mut topics = self.topics.write();
                    let slots = topics.entry(topic.name.clone()).or_default();
                    if slots.len() <= index as usize {
                        slots.resize(index as usize + 1, None);
                    }
                    slots[index as usize] = Some(Arc::clone(&partition));
                }
                self.transition(&partition, None, info);
            }
        }
        // Stop what the image no longer holds here (or holds under a new topic id).
        let stopped: Vec<Arc<Partition>> = {
            let mut topics = self.topics.write();
            let mut stopped = Vec::new();
            for change in &changes {
                let Some(slots) = topics.get_mut(change.name) else {
                    continue;
                };
                for slot in slots.iter_mut() {
                    let keep = slot.as_ref().is_some_and(|p| {
                        change.after.is_some_and(|t| {
                            t.id == p.topic_id()
                                && t.partitions
                                    .get(p.index() as usize)
                                    .is_some_and(|info| info.replicas.contains(&self.local_broker))
                        })
                    });
                    if !keep && let Some(p) = slot.take() {
                        stopped.push(p);
                    }
                }
                if slots.iter().all(Option::is_none) {
                    topics.remove(change.name);
                }
            }
            stopped
        };
        for partition in stopped {
            if let Err(e) = self.stop(&partition) {
                first_error.get_or_insert(e);
            }
        }
        // Logs left on disk by a deletion that a crash interrupted: looked for when the first
        // image is published (at start-up).
        if previous.topics.is_empty() {
            for (topic, partition) in self.logs.partitions() {
                if topic != METADATA_TOPIC
                    && !hosts_named(next, self.local_broker, &topic, partition)
                {
                    info!(topic = %topic, partition, "deleting the log of a partition no longer hosted");
                    if let Err(e) = self.logs.delete(&topic, partition) {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::MetadataRecord;

    fn manager(dir: &std::path::Path) -> ReplicaManager {
        let logs = crate::testing::logs(dir);
        ReplicaManager::new(0, Arc::new(BrokerConfig::embedded()), logs)
    }

    fn with(image: &MetadataImage, records: Vec<MetadataRecord>) -> MetadataImage {
        let mut next = image.clone();
        for r in &records {
            next.apply(r);
        }
        next
    }

    #[test]
    fn partitions_follow_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path());
        let empty = MetadataImage::default();
        let id = Uuid::new_v4();
        let image = with(
            &empty,
            MetadataRecord::new_topic("a", id, vec![vec![0]; 3], []),
        );
        manager.prepare(&empty, &image).unwrap();
        assert!(
            dir.path().join("a-2").exists(),
            "prepared before the commit"
        );
        manager.publish(&empty, &Arc::new(image.clone())).unwrap();
        assert!(manager.get("a", 2).is_some_and(|p| p.is_leader()));
        assert!(manager.get("a", 3).is_none());
        let removed = with(&image, vec![MetadataRecord::RemoveTopic { id }]);
        manager.publish(&image, &Arc::new(removed.clone())).unwrap();
        assert!(manager.get("a", 0).is_none());
        assert!(!dir.path().join("a-0").exists());
    }

    #[test]
    fn an_abandoned_change_leaves_no_logs() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path());
        let empty = MetadataImage::default();
        let image = with(
            &empty,
            MetadataRecord::new_topic("b", Uuid::new_v4(), vec![vec![0]; 2], []),
        );
        manager.prepare(&empty, &image).unwrap();
        manager.abandon(&empty, &image);
        assert!(!dir.path().join("b-0").exists());
        assert!(!dir.path().join("b-1").exists());
    }

    #[test]
    fn lookups_answer_with_kafkas_errors() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path());
        let empty = MetadataImage::default();
        let id = Uuid::new_v4();
        let mut image = with(
            &empty,
            MetadataRecord::new_topic("c", id, vec![vec![0], vec![1]], []),
        );
        manager.prepare(&empty, &image).unwrap();
        manager.publish(&empty, &Arc::new(image.clone())).unwrap();
        assert!(manager.leader(TopicRef::Name("c"), 0, Some(0)).is_ok());
        assert!(manager.leader(TopicRef::Id(id), 0, None).is_ok());
        let err = |r: Result<Arc<Partition>, PartitionError>| r.err().map(|e| e.to_string());
        assert!(matches!(
            manager.leader(TopicRef::Name("nope"), 0, None),
            Err(PartitionError::UnknownTopicOrPartition)
        ));
        assert!(matches!(
            manager.leader(TopicRef::Id(Uuid::new_v4()), 0, None),
            Err(PartitionError::UnknownTopicId)
        ));
        assert!(matches!(
            manager.leader(TopicRef::Name("c"), 2, None),
            Err(PartitionError::UnknownTopicOrPartition)
        ));
        // Partition 1 lives on broker 1 only.
        assert!(matches!(
            manager.leader(TopicRef::Name("c"), 1, None),
            Err(PartitionError::NotLeaderOrFollower)
        ));
        assert!(err(manager.leader(TopicRef::Name("c"), 0, Some(1))).is_some());
        // A new leader epoch for partition 0 moves the partition through a transition.
        let before = image.clone();
        image.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![0],
            isr: vec![0],
            leader: 0,
            leader_epoch: 3,
            partition_epoch: 3,
        });
        manager.publish(&before, &Arc::new(image.clone())).unwrap();
        assert!(matches!(
            manager.leader(TopicRef::Name("c"), 0, Some(0)),
            Err(PartitionError::FencedLeaderEpoch { .. })
        ));
        assert!(manager.leader(TopicRef::Name("c"), 0, Some(3)).is_ok());
    }
}
