//! One partition's replica state on this broker: its log, whether this broker leads it and with
//! which leader epoch, the replicas and ISR, the high watermark, and the waiting rooms for fetches
//! that wait for data and for acks=all produces that wait for the high watermark and durability.
//!
//! A partition changes role only through explicit transitions, driven by the metadata image
//! ([`manager::ReplicaManager`] applies them): [`Partition::become_leader`],
//! [`Partition::become_follower`], [`Partition::update_replicas`] (same leader and epoch, new ISR
//! or replica set); stopping a partition removes it. The high watermark is the smallest log end
//! offset among the in-sync replicas: on a single replica it moves with every append. Consumers read
//! below it.

pub mod manager;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::cluster::PartitionInfo;
use crate::config::TopicConfig;
use crate::log::{Log, LogError};
use crate::record::FileRegion;
use crate::record::batch::{self, BatchError};

pub use manager::{ReplicaManager, TopicRef};

/// Why a partition request was refused; each is one Kafka error code.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("This server does not host this topic-partition.")]
    UnknownTopicOrPartition,
    #[error("This server does not host this topic ID.")]
    UnknownTopicId,
    #[error("this broker is not the leader of the partition")]
    NotLeaderOrFollower,
    #[error("the leader epoch {requested} is older than the current {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("the leader epoch {requested} is newer than the current {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    #[error("only {isr} in-sync replicas, {required} required")]
    NotEnoughReplicas { isr: usize, required: usize },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<BatchError> for PartitionError {
    fn from(e: BatchError) -> Self {
        PartitionError::Log(LogError::Batch(e))
    }
}

/// The result of a leader append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub first_offset: i64,
    pub last_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch had been written before (an idempotent producer's retry).
    pub duplicate: bool,
}

/// What a fetch read from a partition.
#[derive(Debug, Clone)]
pub struct PartitionRead {
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    /// Whole batches, or `None` when there was nothing to return.
    pub region: Option<FileRegion>,
    /// The offset after the returned batches.
    pub next_offset: i64,
}

#[derive(Debug, Clone)]
struct ReplicaState {
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// Log end offsets followers reported by fetching (empty on one node).
    follower_end_offsets: HashMap<i32, i64>,
}

impl ReplicaState {
    /// A new leadership term: leader, epoch, replicas and ISR from `info`, followers' positions
    /// unknown again.
    fn begin_term(&mut self, info: &PartitionInfo) {
        self.leader = info.leader;
        self.leader_epoch = info.leader_epoch;
        self.replicas = info.replicas.clone();
        self.isr = info.isr.clone();
        self.follower_end_offsets.clear();
    }
}

pub struct Partition {
    topic: Arc<str>,
    topic_id: Uuid,
    index: i32,
    local_broker: i32,
    log: Arc<Log>,
    replica: Mutex<ReplicaState>,
    high_watermark: AtomicI64,
    /// `min.insync.replicas` of the topic.
    min_insync_replicas: AtomicUsize,
    /// Woken whenever the high watermark moves (waiting fetches and acks=all produces).
    high_watermark_moved: Notify,
}

impl Partition {
    /// A partition in no role yet; the manager applies its first transition right after.
    pub fn new(
        topic: &str,
        topic_id: Uuid,
        index: i32,
        local_broker: i32,
        log: Arc<Log>,
        high_watermark: i64,
    ) -> Partition {
        Partition {
            topic: Arc::from(topic),
            topic_id,
            index,
            local_broker,
            high_watermark: AtomicI64::new(
                high_watermark
                    .min(log.log_end_offset())
                    .max(log.log_start_offset()),
            ),
            log,
            replica: Mutex::new(ReplicaState {
                leader: -1,
                leader_epoch: -1,
                replicas: Vec::new(),
                isr: Vec::new(),
                follower_end_offsets: HashMap::new(),
            }),
            min_insync_replicas: AtomicUsize::new(1),
            high_watermark_moved: Notify::new(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }

    pub fn index(&self) -> i32 {
        self.index
    }

    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    pub fn leader_epoch(&self) -> i32 {
        self.replica.lock().leader_epoch
    }

    pub fn is_leader(&self) -> bool {
        self.replica.lock().leader == self.local_broker
    }

    /// Whether the partition's log directory works.
    pub fn is_online(&self) -> bool {
        self.log.log_dir().is_online()
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    /// Takes the topic's (possibly changed) settings.
    pub fn set_config(&self, config: &TopicConfig) {
        self.min_insync_replicas
            .store(config.min_insync_replicas, Ordering::Relaxed);
        self.log.set_config(config.log.clone());
    }

    /// Checks a client's view of the leader epoch (KIP-320): `None` or -1 means "any".
    pub fn check_leader_epoch(&self, requested: Option<i32>) -> Result<(), PartitionError> {
        let Some(requested) = requested.filter(|e| *e >= 0) else {
            return Ok(());
        };
        let current = self.leader_epoch();
        match requested.cmp(&current) {
            std::cmp::Ordering::Less => {
                Err(PartitionError::FencedLeaderEpoch { requested, current })
            }
            std::cmp::Ordering::Greater => {
                Err(PartitionError::UnknownLeaderEpoch { requested, current })
            }
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// Transition: this broker leads the partition from `info.leader_epoch` on. The epoch starts
    /// at the log end in the leader-epoch cache; followers' positions start unknown.
    pub fn become_leader(&self, info: &PartitionInfo) -> Result<(), LogError> {
        assert_eq!(
            info.leader, self.local_broker,
            "become_leader on a follower"
        );
        self.replica.lock().begin_term(info);
        self.log.assign_epoch_start(info.leader_epoch)?;
        self.maybe_advance_high_watermark();
        Ok(())
    }

    /// Transition: another broker leads the partition (`info.leader`, -1 when none). Replication
    /// attaches here: fetching from the leader, truncating by leader epoch first.
    pub fn become_follower(&self, info: &PartitionInfo) {
        assert_ne!(
            info.leader, self.local_broker,
            "become_follower on the leader"
        );
        self.replica.lock().begin_term(info);
        // Waiting fetches and produces find out that this broker no longer leads.
        self.high_watermark_moved.notify_waiters();
    }

    /// Same leader and epoch, new replica set or ISR.
    pub fn update_replicas(&self, info: &PartitionInfo) {
        let mut replica = self.replica.lock();
        debug_assert_eq!(replica.leader_epoch, info.leader_epoch);
        replica.replicas = info.replicas.clone();
        replica.isr = info.isr.clone();
        replica
            .follower_end_offsets
            .retain(|id, _| info.replicas.contains(id));
        drop(replica);
        self.maybe_advance_high_watermark();
    }

    /// Appends a producer's record set as leader: leadership, ISR size for acks=all, then the log
    /// (batch validation, idempotence, the append itself).
    pub fn append_as_leader(
        &self,
        records: &[u8],
        required_acks: i16,
        now_ms: i64,
    ) -> Result<AppendOutcome, PartitionError> {
        let min_insync_replicas = self.min_insync_replicas.load(Ordering::Relaxed);
        let leader_epoch = {
            let replica = self.replica.lock();
            if replica.leader != self.local_broker {
                return Err(PartitionError::NotLeaderOrFollower);
            }
            if required_acks == -1 && replica.isr.len() < min_insync_replicas {
                return Err(PartitionError::NotEnoughReplicas {
                    isr: replica.isr.len(),
                    required: min_insync_replicas,
                });
            }
            replica.leader_epoch
        };
        let batches = batch::split_record_set(records)?;
        let info = self
            .log
            .append_validated_as_leader(records, &batches, leader_epoch, now_ms)?;
        if !info.duplicate {
            self.maybe_advance_high_watermark();
        }
        Ok(AppendOutcome {
            first_offset: info.first_offset,
            last_offset: info.last_offset,
            log_append_time: info.log_append_time,
            log_start_offset: self.log.log_start_offset(),
            duplicate: info.duplicate,
        })
    }

    /// Moves the high watermark to the smallest log end offset of the ISR, if that is higher.
    fn maybe_advance_high_watermark(&self) {
        let candidate = {
            let replica = self.replica.lock();
            if replica.leader != self.local_broker {
                return;
            }
            let local = self.log.log_end_offset();
            replica
                .isr
                .iter()
                .filter(|id| **id != self.local_broker)
                .map(|id| replica.follower_end_offsets.get(id).copied().unwrap_or(0))
                .fold(local, i64::min)
        };
        let previous = self.high_watermark.fetch_max(candidate, Ordering::AcqRel);
        if candidate > previous {
            self.high_watermark_moved.notify_waiters();
        }
    }

    /// A future that completes at the next high watermark move. Create it (and `enable` it) before
    /// checking for data, so that a move in between is not missed.
    pub fn high_watermark_moved(&self) -> tokio::sync::futures::Notified<'_> {
        self.high_watermark_moved.notified()
    }

    /// Waits until `offset` is below the high watermark and on disk (acks=all). Fails if this
    /// broker stops leading meanwhile.
    pub async fn wait_until_durable(&self, offset: i64) -> Result<(), PartitionError> {
        loop {
            let moved = self.high_watermark_moved();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if self.high_watermark() >= offset {
                break;
            }
            if !self.is_leader() {
                return Err(PartitionError::NotLeaderOrFollower);
            }
            moved.await;
        }
        self.log
            .flush_up_to(offset)
            .await
            .map_err(|e| PartitionError::Log(LogError::Io(e)))
    }

    /// Reads for a consumer: whole batches from `offset`, bounded by the high watermark.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        min_one: bool,
    ) -> Result<PartitionRead, PartitionError> {
        let high_watermark = self.high_watermark();
        let read = self.log.read(offset, max_bytes, high_watermark, min_one)?;
        Ok(PartitionRead {
            high_watermark,
            log_start_offset: self.log.log_start_offset(),
            log_end_offset: self.log.log_end_offset(),
            next_offset: read.as_ref().map_or(offset, |r| r.next_offset),
            region: read.map(|r| r.region),
        })
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` and where it ends.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(epoch)
    }

    /// DeleteRecords: raises the log start offset; -1 means the high watermark.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, PartitionError> {
        if !self.is_leader() {
            return Err(PartitionError::NotLeaderOrFollower);
        }
        let high_watermark = self.high_watermark();
        let target = if offset == -1 { high_watermark } else { offset };
        if target < 0 || target > high_watermark {
            return Err(PartitionError::Log(LogError::OffsetOutOfRange {
                offset: target,
                start: self.log.log_start_offset(),
                end: high_watermark,
            }));
        }
        Ok(self.log.advance_log_start(target)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::testing::{batch, batch_with_producer};

    const T0: i64 = 1_700_000_000_000;

    fn info(leader: i32, epoch: i32) -> PartitionInfo {
        PartitionInfo {
            replicas: vec![0, 1],
            isr: vec![0],
            leader,
            leader_epoch: epoch,
            partition_epoch: epoch,
        }
    }

    fn partition(dir: &std::path::Path) -> Partition {
        let log = Arc::new(
            Log::create(
                crate::log::LogDir::plain(dir),
                dir,
                "t",
                0,
                crate::config::topic::default_log_config(),
                0,
                T0,
            )
            .unwrap(),
        );
        let p = Partition::new("t", Uuid::new_v4(), 0, 0, log, 0);
        p.become_leader(&info(0, 4)).unwrap();
        p
    }

    #[test]
    fn appends_move_the_high_watermark_on_a_single_replica() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        let out = p
            .append_as_leader(&batch(0, T0, &[b"a", b"b"]), 1, T0)
            .unwrap();
        assert_eq!((out.first_offset, out.last_offset), (0, 1));
        assert_eq!(p.high_watermark(), 2);
        let read = p.read(0, 1 << 20, true).unwrap();
        assert_eq!(read.next_offset, 2);
        assert_eq!(p.leader_epoch(), 4);
    }

    #[test]
    fn a_retried_idempotent_batch_is_not_written_twice() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        let b = batch_with_producer(0, T0, &[b"a"], 5, 0, 0);
        let first = p.append_as_leader(&b, -1, T0).unwrap();
        let again = p.append_as_leader(&b, -1, T0).unwrap();
        assert!(again.duplicate);
        assert_eq!(again.first_offset, first.first_offset);
        assert_eq!(p.log_end_offset(), 1);
        let gap = batch_with_producer(0, T0, &[b"b"], 5, 0, 3);
        assert!(matches!(
            p.append_as_leader(&gap, -1, T0),
            Err(PartitionError::Log(LogError::Producer(
                crate::log::producer_state::ProducerError::OutOfOrder { .. }
            )))
        ));
    }

    #[test]
    fn acks_all_needs_enough_in_sync_replicas() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        p.set_config(&TopicConfig {
            log: crate::config::topic::default_log_config(),
            min_insync_replicas: 2,
        });
        assert!(matches!(
            p.append_as_leader(&batch(0, T0, &[b"a"]), -1, T0),
            Err(PartitionError::NotEnoughReplicas {
                isr: 1,
                required: 2
            })
        ));
    }

    #[test]
    fn transitions_change_the_role_and_epochs_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        p.append_as_leader(&batch(0, T0, &[b"a"]), 1, T0).unwrap();
        assert!(p.check_leader_epoch(Some(4)).is_ok());
        assert!(p.check_leader_epoch(None).is_ok());
        assert!(p.check_leader_epoch(Some(-1)).is_ok());
        assert!(matches!(
            p.check_leader_epoch(Some(3)),
            Err(PartitionError::FencedLeaderEpoch { .. })
        ));
        assert!(matches!(
            p.check_leader_epoch(Some(5)),
            Err(PartitionError::UnknownLeaderEpoch { .. })
        ));
        p.become_follower(&info(1, 5));
        assert!(!p.is_leader());
        assert!(matches!(
            p.append_as_leader(&batch(0, T0, &[b"b"]), 1, T0),
            Err(PartitionError::NotLeaderOrFollower)
        ));
        p.become_leader(&info(0, 6)).unwrap();
        p.append_as_leader(&batch(0, T0, &[b"c"]), 1, T0).unwrap();
        // The epochs the log saw: 4 from offset 0, 6 from offset 1.
        assert_eq!(p.end_offset_for_epoch(4), (4, 1));
        assert_eq!(p.end_offset_for_epoch(5), (4, 1));
        assert_eq!(p.end_offset_for_epoch(6), (6, 2));
    }

    #[tokio::test]
    async fn waiting_for_durability_returns_once_fsynced() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        let out = p.append_as_leader(&batch(0, T0, &[b"a"]), -1, T0).unwrap();
        p.wait_until_durable(out.last_offset + 1).await.unwrap();
        assert!(p.log().recovery_point() > out.last_offset);
    }

    #[test]
    fn delete_records_to_the_high_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        p.append_as_leader(&batch(0, T0, &[b"a", b"b", b"c"]), 1, T0)
            .unwrap();
        assert_eq!(p.delete_records_before(-1).unwrap(), 3);
        assert!(p.delete_records_before(4).is_err());
    }
}
