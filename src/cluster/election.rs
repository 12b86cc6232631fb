//! Leader and ISR changes the controller makes when brokers come and go: the records that move
//! leadership off a fenced or departing broker, give leaderless partitions a leader when one of
//! their in-sync replicas returns, and return leadership to the preferred (first) replica.
//!
//! Elections are clean: a leader always comes from the ISR (`unclean.leader.election.enable` is
//! not supported). Every change of leader bumps the leader epoch.

use super::image::{MetadataImage, PartitionInfo};
use super::records::MetadataRecord;

/// No leader: every in-sync replica is unavailable.
pub const NO_LEADER: i32 = -1;

/// One partition's change, as a record, when `next` differs from `current`.
fn change(
    topic_id: uuid::Uuid,
    partition: usize,
    current: &PartitionInfo,
    mut next: PartitionInfo,
) -> Option<MetadataRecord> {
    if next.leader != current.leader {
        next.leader_epoch = current.leader_epoch + 1;
    }
    if next == *current {
        return None;
    }
    next.partition_epoch = current.partition_epoch + 1;
    Some(MetadataRecord::Partition {
        topic_id,
        partition: partition as i32,
        replicas: next.replicas,
        isr: next.isr,
        leader: next.leader,
        leader_epoch: next.leader_epoch,
        partition_epoch: next.partition_epoch,
    })
}

/// The first replica, in replica order, that is in `isr`, live, and not `excluded`.
fn first_eligible(
    image: &MetadataImage,
    p: &PartitionInfo,
    isr: &[i32],
    excluded: i32,
) -> Option<i32> {
    p.replicas
        .iter()
        .copied()
        .find(|r| *r != excluded && isr.contains(r) && image.is_live(*r))
}

/// Records that take `broker` out of every ISR and leadership: it was fenced or unregistered.
/// The last in-sync replica stays in the ISR (the partition is then leaderless), so that the
/// partition returns only with a replica that has everything.
pub fn remove_broker(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        for (index, p) in topic.partitions.iter().enumerate() {
            if !p.replicas.contains(&broker) {
                continue;
            }
            let mut next = p.clone();
            if p.isr.len() > 1 {
                next.isr.retain(|r| *r != broker);
            }
            if p.leader == broker || p.leader == NO_LEADER {
                next.leader = first_eligible(image, p, &next.isr, broker).unwrap_or(NO_LEADER);
            }
            records.extend(change(topic.id, index, p, next));
        }
    }
    records
}

/// Records that move leadership off `broker` before it shuts down, where another in-sync replica
/// can take over; it leaves the ISR of those partitions. Partitions with no other in-sync replica
/// stay with it until it is fenced.
pub fn move_leaders_off(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        for (index, p) in topic.partitions.iter().enumerate() {
            if p.leader != broker {
                continue;
            }
            let Some(leader) = first_eligible(image, p, &p.isr, broker) else {
                continue;
            };
            let mut next = p.clone();
            next.leader = leader;
            next.isr.retain(|r| *r != broker);
            records.extend(change(topic.id, index, p, next));
        }
    }
    records
}

/// Records that give a leader to the leaderless partitions `broker` (live again) is in sync for.
pub fn elect_returning(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        for (index, p) in topic.partitions.iter().enumerate() {
            if p.leader == NO_LEADER && p.isr.contains(&broker) {
                let mut next = p.clone();
                next.leader = first_eligible(image, p, &p.isr, NO_LEADER).unwrap_or(NO_LEADER);
                records.extend(change(topic.id, index, p, next));
            }
        }
    }
    records
}

/// Whether `p` could have its preferred replica back as leader, and that is not the case now.
pub fn preferred_is_electable(image: &MetadataImage, p: &PartitionInfo) -> Option<i32> {
    let preferred = *p.replicas.first()?;
    (p.leader != preferred && p.isr.contains(&preferred) && image.is_live(preferred))
        .then_some(preferred)
}

/// The record that makes the preferred replica of `topic`'s `partition` its leader, if it can be.
pub fn elect_preferred(
    image: &MetadataImage,
    topic: &str,
    partition: i32,
) -> Option<MetadataRecord> {
    let info = image.topic(topic)?;
    let p = info.partitions.get(usize::try_from(partition).ok()?)?;
    let preferred = preferred_is_electable(image, p)?;
    let mut next = p.clone();
    next.leader = preferred;
    change(info.id, partition as usize, p, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::BrokerInfo;
    use uuid::Uuid;

    fn image(live: &[i32], fenced: &[i32]) -> (MetadataImage, Uuid) {
        let mut image = MetadataImage::default();
        for (id, is_fenced) in live
            .iter()
            .map(|b| (*b, false))
            .chain(fenced.iter().map(|b| (*b, true)))
        {
            image.brokers.insert(
                id,
                BrokerInfo {
                    id,
                    fenced: is_fenced,
                    ..BrokerInfo::default()
                },
            );
        }
        let id = Uuid::new_v4();
        for r in MetadataRecord::new_topic("t", id, vec![vec![1, 2, 3], vec![2, 3, 1]], []) {
            image.apply(&r);
        }
        (image, id)
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    #[test]
    fn a_fenced_leader_hands_over_to_the_next_in_sync_replica() {
        let (mut image, _) = image(&[2, 3], &[1]);
        let records = remove_broker(&image, 1);
        apply(&mut image, &records);
        let p0 = image.partition("t", 0).unwrap();
        assert_eq!((p0.leader, p0.leader_epoch), (2, 1));
        assert_eq!(p0.isr, vec![2, 3]);
        assert_eq!(p0.partition_epoch, 1);
        let p1 = image.partition("t", 1).unwrap();
        assert_eq!(
            (p1.leader, p1.leader_epoch),
            (2, 0),
            "a follower leaving keeps the leader"
        );
        assert_eq!(p1.isr, vec![2, 3]);
        assert_eq!(
            p1.partition_epoch, 1,
            "an ISR change is a new partition epoch"
        );
    }

    #[test]
    fn the_last_in_sync_replica_keeps_the_partition_until_it_returns() {
        let (mut image, _) = image(&[], &[1, 2, 3]);
        for b in [1, 2, 3] {
            let records = remove_broker(&image, b);
            apply(&mut image, &records);
        }
        let p0 = image.partition("t", 0).unwrap().clone();
        assert_eq!(p0.leader, NO_LEADER);
        assert_eq!(p0.isr.len(), 1, "the last in-sync replica is kept: {p0:?}");
        let last = p0.isr[0];
        // Another replica returning does not lead: it may lack records.
        let other = [1, 2, 3].into_iter().find(|b| *b != last).unwrap();
        image.brokers.get_mut(&other).unwrap().fenced = false;
        assert!(elect_returning(&image, other).is_empty());
        image.brokers.get_mut(&last).unwrap().fenced = false;
        let records = elect_returning(&image, last);
        apply(&mut image, &records);
        let p0 = image.partition("t", 0).unwrap();
        assert_eq!(p0.leader, last);
        assert!(p0.leader_epoch > 0);
    }

    #[test]
    fn a_departing_broker_hands_over_and_preferred_leaders_come_back() {
        let (mut image, _) = image(&[1, 2, 3], &[]);
        let records = move_leaders_off(&image, 1);
        assert_eq!(records.len(), 1, "only partition 0 is led by broker 1");
        apply(&mut image, &records);
        let p0 = image.partition("t", 0).unwrap().clone();
        assert_eq!((p0.leader, p0.isr.clone()), (2, vec![2, 3]));
        assert!(
            elect_preferred(&image, "t", 0).is_none(),
            "broker 1 is out of sync"
        );
        // Back in sync (the replication path adds it back), it leads again.
        image.apply(&MetadataRecord::Partition {
            topic_id: image.topic("t").unwrap().id,
            partition: 0,
            replicas: p0.replicas.clone(),
            isr: vec![2, 3, 1],
            leader: 2,
            leader_epoch: p0.leader_epoch,
            partition_epoch: p0.partition_epoch + 1,
        });
        let record = elect_preferred(&image, "t", 0).unwrap();
        image.apply(&record);
        let p0 = image.partition("t", 0).unwrap();
        assert_eq!((p0.leader, p0.leader_epoch), (1, 2));
    }
}
