//! The metadata image: an immutable snapshot of what the cluster looks like (brokers, topics with
//! their ids, partition assignments, leaders, ISR and epochs, topic configuration overrides, the
//! producer id high-water mark). Request handlers read an `Arc` of the current image without locks;
//! every change builds a new image by applying metadata records (see [`super::records`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::records::MetadataRecord;

/// A registered broker: how clients reach it and whether it is live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// Its current registration: a new process registers anew with a higher epoch.
    pub epoch: i64,
    /// The process that registered (a new one each start).
    pub incarnation: Uuid,
    /// A fenced broker leads nothing and is not shown to clients: it has just registered and not
    /// caught up yet, missed its heartbeats, or shut down.
    pub fenced: bool,
}

/// Where one partition lives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionInfo {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped by every change of the partition (leader, ISR or replicas), so that an update made
    /// against an older state can be recognised and refused.
    pub partition_epoch: i32,
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionInfo>,
    /// Topic-level configuration overrides.
    pub configs: BTreeMap<String, String>,
}

impl TopicInfo {
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

/// A topic that differs between two images (see [`MetadataImage::topic_changes`]).
#[derive(Debug, Clone, Copy)]
pub struct TopicChange<'a> {
    pub name: &'a str,
    pub before: Option<&'a Arc<TopicInfo>>,
    pub after: Option<&'a Arc<TopicInfo>>,
}

#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    pub cluster_id: String,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: BTreeMap<String, Arc<TopicInfo>>,
    pub topic_names_by_id: HashMap<Uuid, String>,
    /// The first producer id not yet handed out to any broker.
    pub next_producer_id: i64,
    /// The epoch of the last broker registration.
    pub last_broker_epoch: i64,
    /// Offset of the last metadata record applied.
    pub last_offset: i64,
}

impl MetadataImage {
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicInfo>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicInfo>> {
        self.topic_names_by_id
            .get(id)
            .and_then(|name| self.topics.get(name))
    }

    /// The brokers clients and leaders may use: registered and not fenced.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn is_live(&self, broker: i32) -> bool {
        self.brokers.get(&broker).is_some_and(|b| !b.fenced)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionInfo> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(index)
    }

    /// Applies one record, producing the next image's state in place.
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::Topic { name, id } => {
                self.topic_names_by_id.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicInfo {
                        name: name.clone(),
                        id: *id,
                        partitions: Vec::new(),
                        configs: BTreeMap::new(),
                    }),
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                if let Some(topic) = self.topic_mut(topic_id) {
                    let info = PartitionInfo {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                    };
                    let index = *partition as usize;
                    if index < topic.partitions.len() {
                        topic.partitions[index] = info;
                    } else if index == topic.partitions.len() {
                        topic.partitions.push(info);
                    }
                }
            }
            MetadataRecord::TopicConfig {
                topic_id,
                key,
                value,
            } => {
                if let Some(topic) = self.topic_mut(topic_id) {
                    match value {
                        Some(v) => topic.configs.insert(key.clone(), v.clone()),
                        None => topic.configs.remove(key),
                    };
                }
            }
            MetadataRecord::RemoveTopic { id } => {
                if let Some(name) = self.topic_names_by_id.remove(id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::ClusterId { id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = id.clone();
                }
            }
            MetadataRecord::RegisterBroker {
                id,
                epoch,
                incarnation,
                host,
                port,
                rack,
            } => {
                self.last_broker_epoch = self.last_broker_epoch.max(*epoch);
                self.brokers.insert(
                    *id,
                    BrokerInfo {
                        id: *id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        epoch: *epoch,
                        incarnation: *incarnation,
                        fenced: true,
                    },
                );
            }
            MetadataRecord::FenceBroker { id, epoch } => {
                if let Some(b) = self.brokers.get_mut(id).filter(|b| b.epoch == *epoch) {
                    b.fenced = true;
                }
            }
            MetadataRecord::UnfenceBroker { id, epoch } => {
                if let Some(b) = self.brokers.get_mut(id).filter(|b| b.epoch == *epoch) {
                    b.fenced = false;
                }
            }
            MetadataRecord::UnregisterBroker { id } => {
                self.brokers.remove(id);
            }
            // Refused before it gets here (see the quorum's state machine).
            MetadataRecord::Unknown => {}
        }
    }

    /// The topics that differ between `previous` and this image (added, removed, or changed), in
    /// name order. Topics a change did not touch are the same allocation in both images, so this
    /// walks both maps once and compares pointers, not contents.
    pub fn topic_changes<'a>(&'a self, previous: &'a MetadataImage) -> Vec<TopicChange<'a>> {
        let mut changes = Vec::new();
        let mut before = previous.topics.iter().peekable();
        let mut after = self.topics.iter().peekable();
        loop {
            let ordering = match (before.peek(), after.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((b, _)), Some((a, _))) => b.cmp(a),
            };
            match ordering {
                std::cmp::Ordering::Less => {
                    let (name, topic) = before.next().expect("peeked");
                    changes.push(TopicChange {
                        name,
                        before: Some(topic),
                        after: None,
                    });
                }
                std::cmp::Ordering::Greater => {
                    let (name, topic) = after.next().expect("peeked");
                    changes.push(TopicChange {
                        name,
                        before: None,
                        after: Some(topic),
                    });
                }
                std::cmp::Ordering::Equal => {
                    let (name, old) = before.next().expect("peeked");
                    let (_, new) = after.next().expect("peeked");
                    if !Arc::ptr_eq(old, new) {
                        changes.push(TopicChange {
                            name,
                            before: Some(old),
                            after: Some(new),
                        });
                    }
                }
            }
        }
        changes
    }

    /// Records that rebuild this image's replicated state from nothing (a snapshot of it).
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if !self.cluster_id.is_empty() {
            records.push(MetadataRecord::ClusterId {
                id: self.cluster_id.clone(),
            });
        }
        for topic in self.topics.values() {
            let replicas = topic
                .partitions
                .iter()
                .map(|p| p.replicas.clone())
                .collect();
            records.extend(MetadataRecord::new_topic(
                &topic.name,
                topic.id,
                replicas,
                &topic.configs,
            ));
            // new_topic starts every partition at its first replica, epoch 0: the real state.
            for (index, p) in topic.partitions.iter().enumerate() {
                records.push(MetadataRecord::Partition {
                    topic_id: topic.id,
                    partition: index as i32,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    partition_epoch: p.partition_epoch,
                });
            }
        }
        if self.next_producer_id > 0 {
            records.push(MetadataRecord::ProducerIds {
                next_producer_id: self.next_producer_id,
            });
        }
        for b in self.brokers.values() {
            records.push(MetadataRecord::RegisterBroker {
                id: b.id,
                epoch: b.epoch,
                incarnation: b.incarnation,
                host: b.host.clone(),
                port: b.port,
                rack: b.rack.clone(),
            });
            if !b.fenced {
                records.push(MetadataRecord::UnfenceBroker {
                    id: b.id,
                    epoch: b.epoch,
                });
            }
        }
        records
    }

    fn topic_mut(&mut self, id: &Uuid) -> Option<&mut TopicInfo> {
        let name = self.topic_names_by_id.get(id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_build_and_remove_topics() {
        let mut image = MetadataImage::default();
        let id = Uuid::new_v4();
        for record in MetadataRecord::new_topic("t", id, vec![vec![0]; 2], []) {
            image.apply(&record);
        }
        image.apply(&MetadataRecord::TopicConfig {
            topic_id: id,
            key: "retention.ms".into(),
            value: Some("1".into()),
        });
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(topic.configs["retention.ms"], "1");
        assert_eq!(image.topic_by_id(&id).unwrap().name, "t");
        image.apply(&MetadataRecord::RemoveTopic { id });
        assert!(image.topic("t").is_none());
        assert!(image.topic_by_id(&id).is_none());
    }

    #[test]
    fn topic_changes_are_what_a_change_touched() {
        let mut image = MetadataImage::default();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        for r in MetadataRecord::new_topic("a", a, vec![vec![0]], [])
            .into_iter()
            .chain(MetadataRecord::new_topic("b", b, vec![vec![0]], []))
        {
            image.apply(&r);
        }
        let mut next = image.clone();
        assert!(next.topic_changes(&image).is_empty());
        next.apply(&MetadataRecord::RemoveTopic { id: a });
        next.apply(&MetadataRecord::TopicConfig {
            topic_id: b,
            key: "retention.ms".into(),
            value: Some("1".into()),
        });
        for r in MetadataRecord::new_topic("c", c, vec![vec![0]], []) {
            next.apply(&r);
        }
        let changes: Vec<(&str, bool, bool)> = next
            .topic_changes(&image)
            .iter()
            .map(|c| (c.name, c.before.is_some(), c.after.is_some()))
            .collect();
        assert_eq!(
            changes,
            vec![("a", true, false), ("b", true, true), ("c", false, true)]
        );
    }

    #[test]
    fn an_image_rebuilds_from_its_own_records() {
        let mut image = MetadataImage::default();
        let id = Uuid::new_v4();
        let configs: BTreeMap<String, String> =
            [("retention.ms".to_string(), "5".to_string())].into();
        for record in MetadataRecord::new_topic("t", id, vec![vec![0, 1], vec![1, 0]], &configs) {
            image.apply(&record);
        }
        image.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 1,
            replicas: vec![1, 0],
            isr: vec![0],
            leader: 0,
            leader_epoch: 7,
            partition_epoch: 9,
        });
        image.apply(&MetadataRecord::ProducerIds {
            next_producer_id: 3000,
        });
        let mut rebuilt = MetadataImage::default();
        for record in image.to_records() {
            rebuilt.apply(&record);
        }
        assert_eq!(rebuilt.topics, image.topics);
        assert_eq!(rebuilt.next_producer_id, 3000);
    }
}
