//! The group coordinator: every group this broker coordinates, each behind its own lock (no global
//! lock on the request path), with its committed offsets and the requests parked in it.
//!
//! A group is coordinated by the leader of its `__consumer_offsets` partition ([`store`]); on one
//! node that is this broker. Membership and offsets are written there before they are answered,
//! and replayed from there at start-up ([`GroupCoordinator::load`]). Time-driven work (session
//! expiry, the end of a join phase, offset expiry) runs from [`GroupCoordinator::tick`] and
//! [`GroupCoordinator::expire_offsets`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::records::{GroupKey, GroupValue, MemberValue, OffsetValue};
use super::state::{
    Effects, Group, GroupConfig, GroupState, JoinOutcome, JoinRequest, JoinResult, Member,
    SyncOutcome, SyncResult,
};
use super::store::{self, Change, OffsetsPartitions};
use crate::partition::Partition;
use crate::partition::manager::LeadershipListener;

/// Coordinator settings.
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorConfig {
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions`.
    pub offsets_partitions: i32,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub metadata_max_bytes: usize,
    /// A `__consumer_offsets` partition is compacted (its live state rewritten and older segments
    /// dropped) once its log holds this many bytes and four times its last compacted size.
    pub compaction_min_bytes: u64,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// A topic partition: topic name and partition index.
pub type PartitionKey = (String, i32);

/// Committed offsets of partitions (`None`: nothing committed).
pub type CommittedOffsets = Vec<(PartitionKey, Option<Committed>)>;

/// Who sends a group request: member id, static instance id, generation.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation_id: i32,
}

/// What one partition of an OffsetCommit asks.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol_name: String,
    /// (member id, instance id, client id, client host, metadata, assignment)
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

struct Slot {
    group: Group,
    offsets: BTreeMap<(String, i32), Committed>,
    joins: HashMap<String, oneshot::Sender<JoinResult>>,
    syncs: HashMap<String, oneshot::Sender<SyncResult>>,
}

impl Slot {
    fn new(group_id: &str, now_ms: i64) -> Slot {
        Slot {
            group: Group::new(group_id, now_ms),
            offsets: BTreeMap::new(),
            joins: HashMap::new(),
            syncs: HashMap::new(),
        }
    }

    /// Answers parked requests.
    fn deliver(&mut self, effects: &mut Effects) {
        for (member, result) in effects.joins.drain(..) {
            if let Some(waiter) = self.joins.remove(&member) {
                let _ = waiter.send(result);
            }
        }
        for (member, result) in effects.syncs.drain(..) {
            if let Some(waiter) = self.syncs.remove(&member) {
                let _ = waiter.send(result);
            }
        }
    }

    /// The group's membership as the record that persists it.
    fn group_record(&self, now_ms: i64) -> GroupValue {
        let g = &self.group;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        GroupValue {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation_id,
            protocol: g.protocol_name.clone(),
            leader: g.leader.clone(),
            current_state_timestamp: now_ms,
            members: g
                .members
                .values()
                .map(|m| MemberValue {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m
                        .protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, b)| b.to_vec())
                        .unwrap_or_default(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }
}

pub struct GroupCoordinator {
    config: CoordinatorConfig,
    partitions: Arc<dyn OffsetsPartitions>,
    groups: RwLock<HashMap<String, Arc<Mutex<Slot>>>>,
    /// Log size of each offsets partition right after its last compaction.
    compacted_sizes: Mutex<HashMap<i32, u64>>,
    /// `__consumer_offsets` partitions whose groups could not be loaded: their groups answer
    /// COORDINATOR_NOT_AVAILABLE until the partition is loaded again.
    unavailable: Mutex<HashSet<i32>>,
}

/// The topics a "consumer" protocol member subscribes to, from its ConsumerProtocolSubscription
/// (version, then an array of topic names). Untrusted bytes: every length is checked.
fn subscribed_topics(metadata: &[u8]) -> Vec<String> {
    let mut topics = Vec::new();
    let Some(count) = metadata
        .get(2..6)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return topics;
    };
    let mut pos = 6;
    for _ in 0..count.max(0) {
        let Some(len) = metadata
            .get(pos..pos + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
        else {
            break;
        };
        let Some(name) = usize::try_from(len)
            .ok()
            .and_then(|l| metadata.get(pos + 2..pos + 2 + l))
        else {
            break;
        };
        topics.push(String::from_utf8_lossy(name).into_owned());
        pos += 2 + name.len();
    }
    topics
}

impl GroupCoordinator {
    pub fn new(
        config: CoordinatorConfig,
        partitions: Arc<dyn OffsetsPartitions>,
    ) -> GroupCoordinator {
        GroupCoordinator {
            config,
            partitions,
            groups: RwLock::new(HashMap::new()),
            compacted_sizes: Mutex::new(HashMap::new()),
            unavailable: Mutex::new(HashSet::new()),
        }
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_of(&self, group_id: &str) -> i32 {
        store::partition_for(group_id, self.config.offsets_partitions)
    }

    fn offsets_partition(&self, group_id: &str) -> Result<Arc<Partition>, i16> {
        let index = self.partition_of(group_id);
        if self.unavailable.lock().contains(&index) {
            return Err(E::CoordinatorNotAvailable.code());
        }
        self.partitions.get(index).ok_or(E::NotCoordinator.code())
    }

    /// Loads the groups of a `__consumer_offsets` partition this broker now leads. A partition that
    /// cannot be read (a corrupt batch) leaves only its own groups unavailable.
    pub fn load_partition(&self, partition: &Partition, now_ms: i64) {
        let index = partition.index();
        let started = std::time::Instant::now();
        match self.load(partition, now_ms) {
            Ok(records) => {
                self.unavailable.lock().remove(&index);
                if records > 0 {
                    info!(
                        partition = index,
                        records,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "loaded consumer groups"
                    );
                }
            }
            Err(e) => {
                error!(partition = index, error = %e,
                    "cannot load the consumer groups of {}-{index}; they are unavailable (COORDINATOR_NOT_AVAILABLE), other partitions' groups are served",
                    store::OFFSETS_TOPIC);
                self.unloaded(index);
                self.unavailable.lock().insert(index);
            }
        }
    }

    /// Forgets the groups of a `__consumer_offsets` partition this broker no longer leads.
    pub fn unloaded(&self, index: i32) {
        self.groups
            .write()
            .retain(|id, _| self.partition_of(id) != index);
        self.unavailable.lock().remove(&index);
    }

    fn slot(&self, group_id: &str) -> Option<Arc<Mutex<Slot>>> {
        self.groups.read().get(group_id).cloned()
    }

    fn slot_or_create(&self, group_id: &str, now_ms: i64) -> Arc<Mutex<Slot>> {
        if let Some(slot) = self.slot(group_id) {
            return slot;
        }
        Arc::clone(
            self.groups
                .write()
                .entry(group_id.to_string())
                .or_insert_with(|| Arc::new(Mutex::new(Slot::new(group_id, now_ms)))),
        )
    }

    /// Writes the group's membership if a step asked for it; returns the offset to wait for.
    fn persist(
        &self,
        slot: &Slot,
        effects: &Effects,
        now_ms: i64,
    ) -> Result<Option<(Arc<Partition>, i64)>, i16> {
        if !effects.persist {
            return Ok(None);
        }
        let partition = self.offsets_partition(&slot.group.group_id)?;
        let change = Change::Group {
            group: slot.group.group_id.clone(),
            value: Some(slot.group_record(now_ms)),
        };
        match store::append(&partition, &[change], now_ms) {
            Ok(end) => Ok(Some((partition, end))),
            Err(e) => {
                warn!(group = %slot.group.group_id, error = %e, "could not write group metadata");
                Err(E::CoordinatorNotAvailable.code())
            }
        }
    }

    /// JoinGroup: answered at once or when the join phase completes.
    pub async fn join(&self, group_id: &str, request: JoinRequest, now_ms: i64) -> JoinResult {
        if group_id.is_empty() {
            return JoinResult::error(E::InvalidGroupId.code(), &request.member_id);
        }
        if let Err(code) = self.offsets_partition(group_id) {
            return JoinResult::error(code, &request.member_id);
        }
        let slot = if request.member_id.is_empty() {
            self.slot_or_create(group_id, now_ms)
        } else {
            match self.slot(group_id) {
                Some(slot) => slot,
                None => return JoinResult::error(E::UnknownMemberId.code(), &request.member_id),
            }
        };
        let member_id = request.member_id.clone();
        let waiter = {
            let mut slot = slot.lock();
            let (outcome, mut effects) = slot.group.join(request, &self.config.group, now_ms);
            if let Err(code) = self.persist(&slot, &effects, now_ms) {
                return JoinResult::error(code, &member_id);
            }
            slot.deliver(&mut effects);
            match outcome {
                JoinOutcome::Respond(result) => return result,
                JoinOutcome::Wait(id) => {
                    let (tx, rx) = oneshot::channel();
                    slot.joins.insert(id, tx);
                    rx
                }
            }
        };
        waiter
            .await
            .unwrap_or_else(|_| JoinResult::error(E::RebalanceInProgress.code(), &member_id))
    }

    /// SyncGroup: the leader's assignment is made durable before anyone gets it.
    #[allow(clippy::too_many_arguments)]
    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> SyncResult {
        let Some(slot) = self.slot(group_id) else {
            return SyncResult::error(if group_id.is_empty() {
                E::InvalidGroupId.code()
            } else {
                E::UnknownMemberId.code()
            });
        };
        let (outcome, mut effects, written) = {
            let mut guard = slot.lock();
            let (outcome, effects) = guard.group.sync(
                member_id,
                instance_id,
                generation_id,
                protocol,
                assignments,
                now_ms,
            );
            let written = self.persist(&guard, &effects, now_ms);
            (outcome, effects, written)
        };
        let durable = match written {
            Ok(Some((partition, end))) => partition
                .wait_until_durable(end)
                .await
                .map_err(|_| E::CoordinatorNotAvailable.code()),
            Ok(None) => Ok(()),
            Err(code) => Err(code),
        };
        if let Err(code) = durable {
            // The assignment is not safe: everyone must rebalance.
            for (_, result) in effects.syncs.iter_mut() {
                *result = SyncResult::error(code);
            }
        }
        let waiter = {
            let mut guard = slot.lock();
            guard.deliver(&mut effects);
            match outcome {
                SyncOutcome::Respond(result) => {
                    return durable.map_or_else(SyncResult::error, |()| result);
                }
                SyncOutcome::Wait(id) => {
                    let (tx, rx) = oneshot::channel();
                    guard.syncs.insert(id, tx);
                    rx
                }
            }
        };
        waiter
            .await
            .unwrap_or_else(|_| SyncResult::error(E::RebalanceInProgress.code()))
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> i16 {
        let Some(slot) = self.slot(group_id) else {
            return E::UnknownMemberId.code();
        };
        if let Err(code) = self.offsets_partition(group_id) {
            return code;
        }
        slot.lock()
            .group
            .heartbeat(member_id, instance_id, generation_id, now_ms)
    }

    /// LeaveGroup: an error code per member, or a group-level error.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
        now_ms: i64,
    ) -> Result<Vec<i16>, i16> {
        let Some(slot) = self.slot(group_id) else {
            // Kafka answers each member, not the request, for a group it does not know.
            return Ok(vec![E::UnknownMemberId.code(); members.len()]);
        };
        self.offsets_partition(group_id)?;
        let mut slot = slot.lock();
        let (codes, mut effects) = slot.group.leave(members, &self.config.group, now_ms);
        self.persist(&slot, &effects, now_ms)?;
        slot.deliver(&mut effects);
        Ok(codes)
    }

    /// OffsetCommit: one error code per partition, in request order.
    pub async fn commit(
        &self,
        group_id: &str,
        sender: Sender<'_>,
        offsets: Vec<CommitRequest>,
        topic_exists: impl Fn(&str, i32) -> bool,
        now_ms: i64,
    ) -> Vec<i16> {
        let all = |code: i16| vec![code; offsets.len()];
        let partition = match self.offsets_partition(group_id) {
            Ok(p) => p,
            Err(code) => return all(code),
        };
        // Per-partition checks first: a request with nothing valid in it creates no group.
        let codes: Vec<i16> = offsets
            .iter()
            .map(|o| {
                if o.metadata
                    .as_ref()
                    .is_some_and(|m| m.encode_utf16().count() > self.config.metadata_max_bytes)
                {
                    E::OffsetMetadataTooLarge.code()
                } else if !topic_exists(&o.topic, o.partition) {
                    E::UnknownTopicOrPartition.code()
                } else {
                    0
                }
            })
            .collect();
        if codes.iter().all(|c| *c != 0) {
            return codes;
        }
        let slot = if sender.generation_id < 0 {
            self.slot_or_create(group_id, now_ms)
        } else {
            match self.slot(group_id) {
                Some(slot) => slot,
                None => return all(E::IllegalGeneration.code()),
            }
        };
        let end = {
            let mut slot = slot.lock();
            let checked = slot.group.check_commit(
                sender.member_id,
                sender.instance_id,
                sender.generation_id,
                now_ms,
            );
            if let Err(code) = checked {
                return all(code);
            }
            let mut changes = Vec::new();
            let mut accepted = Vec::new();
            for (o, code) in offsets.iter().zip(&codes) {
                if *code != 0 {
                    continue;
                }
                let committed = Committed {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone().unwrap_or_default(),
                    commit_timestamp_ms: now_ms,
                };
                changes.push(Change::Offset {
                    group: group_id.to_string(),
                    topic: o.topic.clone(),
                    partition: o.partition,
                    value: Some(OffsetValue {
                        offset: committed.offset,
                        leader_epoch: committed.leader_epoch,
                        metadata: committed.metadata.clone(),
                        commit_timestamp: now_ms,
                        expire_timestamp: -1,
                    }),
                });
                accepted.push(((o.topic.clone(), o.partition), committed));
            }
            if changes.is_empty() {
                return codes;
            }
            match store::append(&partition, &changes, now_ms) {
                Ok(end) => {
                    // Applied under the group lock right after the append, so that the in-memory
                    // view follows log order.
                    slot.offsets.extend(accepted);
                    end
                }
                Err(e) => {
                    warn!(group = group_id, error = %e, "could not write offsets");
                    return all(E::CoordinatorNotAvailable.code());
                }
            }
        };
        match partition.wait_until_durable(end).await {
            Ok(()) => codes,
            Err(_) => all(E::CoordinatorNotAvailable.code()),
        }
    }

    /// OffsetFetch: committed offsets of the given partitions (all when `None`).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<CommittedOffsets, i16> {
        self.offsets_partition(group_id)?;
        let Some(slot) = self.slot(group_id) else {
            return Ok(partitions
                .unwrap_or_default()
                .iter()
                .map(|p| (p.clone(), None))
                .collect());
        };
        let slot = slot.lock();
        Ok(match partitions {
            Some(wanted) => wanted
                .iter()
                .map(|p| (p.clone(), slot.offsets.get(p).cloned()))
                .collect(),
            None => slot
                .offsets
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
        })
    }

    pub fn describe(&self, group_id: &str) -> Result<GroupDescription, i16> {
        let Some(slot) = self.slot(group_id) else {
            return Ok(GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead.name(),
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            });
        };
        let slot = slot.lock();
        let g = &slot.group;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        let stable = matches!(g.state, GroupState::Stable);
        Ok(GroupDescription {
            group_id: group_id.to_string(),
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_name: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| {
                    let metadata = m
                        .protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default();
                    let (metadata, assignment) = if stable {
                        (metadata, m.assignment.clone())
                    } else {
                        (Bytes::new(), Bytes::new())
                    };
                    (
                        m.member_id.clone(),
                        m.group_instance_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                        metadata,
                        assignment,
                    )
                })
                .collect(),
        })
    }

    /// Every group: (id, protocol type, state name).
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let slots: Vec<(String, Arc<Mutex<Slot>>)> = self
            .groups
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        slots
            .into_iter()
            .filter_map(|(id, slot)| {
                let slot = slot.lock();
                (slot.group.state != GroupState::Dead).then(|| {
                    (
                        id,
                        slot.group.protocol_type.clone().unwrap_or_default(),
                        slot.group.state.name(),
                    )
                })
            })
            .collect()
    }

    /// DeleteGroups for one group: tombstones for its offsets and membership.
    pub async fn delete_group(&self, group_id: &str, now_ms: i64) -> i16 {
        if group_id.is_empty() {
            return E::InvalidGroupId.code();
        }
        let partition = match self.offsets_partition(group_id) {
            Ok(p) => p,
            Err(code) => return code,
        };
        let Some(slot) = self.slot(group_id) else {
            return E::GroupIdNotFound.code();
        };
        let end = {
            let mut slot = slot.lock();
            if slot.group.state == GroupState::Dead {
                return E::GroupIdNotFound.code();
            }
            if !slot.group.is_empty() {
                return E::NonEmptyGroup.code();
            }
            let mut changes: Vec<Change> = slot
                .offsets
                .keys()
                .map(|(topic, partition)| Change::Offset {
                    group: group_id.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: None,
                })
                .collect();
            changes.push(Change::Group {
                group: group_id.to_string(),
                value: None,
            });
            let end = match store::append(&partition, &changes, now_ms) {
                Ok(end) => end,
                Err(_) => return E::CoordinatorNotAvailable.code(),
            };
            slot.group.state = GroupState::Dead;
            slot.offsets.clear();
            end
        };
        self.groups.write().remove(group_id);
        info!(group = group_id, "deleted group");
        match partition.wait_until_durable(end).await {
            Ok(()) => 0,
            Err(_) => E::CoordinatorNotAvailable.code(),
        }
    }

    /// OffsetDelete: removes committed offsets of topics the group does not consume. A group-level
    /// error, or one code per partition.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> Result<Vec<i16>, i16> {
        let partition = self.offsets_partition(group_id)?;
        let slot = self.slot(group_id).ok_or(E::GroupIdNotFound.code())?;
        let (codes, end) = {
            let mut slot = slot.lock();
            if slot.group.state == GroupState::Dead {
                return Err(E::GroupIdNotFound.code());
            }
            let protocol = slot.group.protocol_name.clone().unwrap_or_default();
            let subscribed: Vec<String> = if slot.group.protocol_type.as_deref() == Some("consumer")
            {
                slot.group
                    .members
                    .values()
                    .flat_map(|m| {
                        m.protocols
                            .iter()
                            .filter(|(n, _)| *n == protocol)
                            .flat_map(|(_, meta)| subscribed_topics(meta))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut codes = Vec::with_capacity(partitions.len());
            let mut changes = Vec::new();
            for (topic, index) in partitions {
                if subscribed.contains(topic) {
                    codes.push(E::GroupSubscribedToTopic.code());
                    continue;
                }
                codes.push(0);
                if slot.offsets.remove(&(topic.clone(), *index)).is_some() {
                    changes.push(Change::Offset {
                        group: group_id.to_string(),
                        topic: topic.clone(),
                        partition: *index,
                        value: None,
                    });
                }
            }
            if changes.is_empty() {
                return Ok(codes);
            }
            let end = store::append(&partition, &changes, now_ms)
                .map_err(|_| E::CoordinatorNotAvailable.code())?;
            (codes, end)
        };
        partition
            .wait_until_durable(end)
            .await
            .map_err(|_| E::CoordinatorNotAvailable.code())?;
        Ok(codes)
    }

    /// Time-driven work for every group whose next deadline has passed.
    pub fn tick(&self, now_ms: i64) {
        let slots: Vec<Arc<Mutex<Slot>>> = self.groups.read().values().cloned().collect();
        for slot in slots {
            let mut slot = slot.lock();
            if slot.group.next_deadline_ms().is_none_or(|d| d > now_ms) {
                continue;
            }
            let mut effects = slot.group.tick(&self.config.group, now_ms);
            if let Err(code) = self.persist(&slot, &effects, now_ms) {
                warn!(group = %slot.group.group_id, code, "could not persist a group change");
            }
            slot.deliver(&mut effects);
        }
    }

    /// Removes offsets past `offsets.retention.minutes`: for groups that have been empty that long
    /// (counted from when they emptied), and, for groups never managed by the group protocol, each
    /// offset that long after its commit (KIP-211).
    pub fn expire_offsets(&self, now_ms: i64) {
        let retention = self.config.offsets_retention_ms;
        let slots: Vec<(String, Arc<Mutex<Slot>>)> = self
            .groups
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        for (group_id, slot) in slots {
            let mut slot = slot.lock();
            if slot.group.state != GroupState::Empty {
                continue;
            }
            let managed = slot.group.protocol_type.is_some();
            let emptied_at = slot.group.state_since_ms;
            let expired: Vec<PartitionKey> = slot
                .offsets
                .iter()
                .filter(|(_, c)| {
                    now_ms
                        - if managed {
                            emptied_at
                        } else {
                            c.commit_timestamp_ms
                        }
                        >= retention
                })
                .map(|(k, _)| k.clone())
                .collect();
            // An empty group left with no offsets is deleted with them, as Kafka does.
            let delete_group = expired.len() == slot.offsets.len();
            if expired.is_empty() && !delete_group {
                continue;
            }
            let Ok(partition) = self.offsets_partition(&group_id) else {
                continue;
            };
            let mut changes: Vec<Change> = expired
                .iter()
                .map(|(topic, p)| Change::Offset {
                    group: group_id.clone(),
                    topic: topic.clone(),
                    partition: *p,
                    value: None,
                })
                .collect();
            if delete_group {
                changes.push(Change::Group {
                    group: group_id.clone(),
                    value: None,
                });
            }
            if store::append(&partition, &changes, now_ms).is_err() {
                continue;
            }
            for key in &expired {
                slot.offsets.remove(key);
            }
            if delete_group {
                slot.group.state = GroupState::Dead;
            }
            info!(group = %group_id, offsets = expired.len(), deleted = delete_group, "expired committed offsets");
        }
        self.groups
            .write()
            .retain(|_, slot| slot.lock().group.state != GroupState::Dead);
    }

    /// Keeps start-up replay short: when partition `index` of `__consumer_offsets` has grown past
    /// its threshold, rolls its log, appends the live state of each of its groups (membership and
    /// committed offsets, each group under its own lock), fsyncs, and moves the log start past
    /// everything older, which deletes those segments. Replay then reads the live state plus what
    /// came after it, however many commits were ever made. Blocking. Returns whether it compacted.
    pub fn compact_partition(&self, index: i32, now_ms: i64) -> std::io::Result<bool> {
        let Some(partition) = self.partitions.get(index) else {
            return Ok(false);
        };
        let log = partition.log();
        let last = self
            .compacted_sizes
            .lock()
            .get(&index)
            .copied()
            .unwrap_or(0);
        if log.size_in_bytes() < self.config.compaction_min_bytes.max(last.saturating_mul(4)) {
            return Ok(false);
        }
        let start = log.roll()?;
        let slots: Vec<(String, Arc<Mutex<Slot>>)> = self
            .groups
            .read()
            .iter()
            .filter(|(id, _)| self.partition_of(id) == index)
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect();
        for (id, slot) in slots {
            let slot = slot.lock();
            if slot.group.state == GroupState::Dead {
                continue;
            }
            let mut changes: Vec<Change> = slot
                .offsets
                .iter()
                .map(|((topic, p), c)| Change::Offset {
                    group: id.clone(),
                    topic: topic.clone(),
                    partition: *p,
                    value: Some(OffsetValue {
                        offset: c.offset,
                        leader_epoch: c.leader_epoch,
                        metadata: c.metadata.clone(),
                        commit_timestamp: c.commit_timestamp_ms,
                        expire_timestamp: -1,
                    }),
                })
                .collect();
            if slot.group.protocol_type.is_some() || slot.group.generation_id > 0 {
                changes.push(Change::Group {
                    group: id.clone(),
                    value: Some(slot.group_record(now_ms)),
                });
            }
            for chunk in changes.chunks(1000) {
                store::append(&partition, chunk, now_ms)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            }
        }
        log.flush()?;
        let before = log.size_in_bytes();
        partition
            .delete_records_before(start)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let after = log.size_in_bytes();
        self.compacted_sizes.lock().insert(index, after);
        info!(
            partition = index,
            before_bytes = before,
            after_bytes = after,
            "compacted {}",
            store::OFFSETS_TOPIC
        );
        Ok(true)
    }

    /// Rebuilds the groups of one `__consumer_offsets` partition from its log (at start-up).
    pub fn load(&self, partition: &Partition, now_ms: i64) -> std::io::Result<usize> {
        let mut offsets: HashMap<String, BTreeMap<(String, i32), Committed>> = HashMap::new();
        let mut groups: HashMap<String, Option<GroupValue>> = HashMap::new();
        let records = store::replay(partition, |key, value| match key {
            GroupKey::Offset {
                group,
                topic,
                partition,
            } => {
                let entry = offsets.entry(group).or_default();
                match value.map(|v| OffsetValue::decode(&v)) {
                    Some(Ok(v)) => {
                        entry.insert(
                            (topic, partition),
                            Committed {
                                offset: v.offset,
                                leader_epoch: v.leader_epoch,
                                metadata: v.metadata,
                                commit_timestamp_ms: v.commit_timestamp,
                            },
                        );
                    }
                    Some(Err(e)) => warn!(error = %e, "skipping an unreadable offset record"),
                    None => {
                        entry.remove(&(topic, partition));
                    }
                }
            }
            GroupKey::Group { group } => match value.map(|v| GroupValue::decode(&v)) {
                Some(Ok(v)) => {
                    groups.insert(group, Some(v));
                }
                Some(Err(e)) => warn!(error = %e, "skipping an unreadable group record"),
                None => {
                    groups.insert(group.clone(), None);
                    offsets.remove(&group);
                }
            },
        })?;
        let mut loaded = self.groups.write();
        let ids: Vec<String> = offsets.keys().chain(groups.keys()).cloned().collect();
        for id in ids {
            if loaded.contains_key(&id)
                || matches!(groups.get(&id), Some(None))
                    && offsets.get(&id).is_none_or(BTreeMap::is_empty)
            {
                continue;
            }
            let mut slot = Slot::new(&id, now_ms);
            if let Some(Some(value)) = groups.get(&id) {
                let protocol = value.protocol.clone().unwrap_or_default();
                let members = value
                    .members
                    .iter()
                    .map(|m| Member {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        session_timeout_ms: m.session_timeout_ms,
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        protocol_type: value.protocol_type.clone(),
                        protocols: vec![(protocol.clone(), Bytes::from(m.subscription.clone()))],
                        assignment: Bytes::from(m.assignment.clone()),
                        last_heard_ms: now_ms,
                        joined: false,
                        synced: true,
                    })
                    .collect();
                let protocol_type =
                    (!value.protocol_type.is_empty()).then(|| value.protocol_type.clone());
                slot.group.restore(
                    value.generation,
                    protocol_type,
                    value.protocol.clone(),
                    value.leader.clone(),
                    members,
                    now_ms,
                );
            }
            if let Some(o) = offsets.remove(&id) {
                slot.offsets = o;
            }
            loaded.insert(id, Arc::new(Mutex::new(slot)));
        }
        Ok(records)
    }

    /// Whether the group exists (and is not being deleted).
    pub fn group_exists(&self, group_id: &str) -> bool {
        self.slot(group_id)
            .is_some_and(|s| s.lock().group.state != GroupState::Dead)
    }

    /// How many groups are loaded.
    pub fn len(&self) -> usize {
        self.groups.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The coordinator follows the leadership of `__consumer_offsets` partitions: it loads a partition's
/// groups when this broker starts leading it and forgets them when it stops.
impl LeadershipListener for GroupCoordinator {
    fn became_leader(&self, partition: &Arc<Partition>) {
        self.load_partition(partition, crate::clock::now_ms());
    }

    fn resigned(&self, index: i32) {
        self.unloaded(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::MetadataPublisher;
    use crate::cluster::{MetadataImage, MetadataRecord};
    use crate::config::BrokerConfig;
    use crate::group::state::GroupConfig;
    use crate::partition::ReplicaManager;

    const T0: i64 = 1_700_000_000_000;

    /// A coordinator over real `__consumer_offsets` partitions in `dir` (and the topic "t").
    fn fixture(dir: &std::path::Path) -> (GroupCoordinator, Arc<ReplicaManager>) {
        let logs = crate::testing::logs(dir);
        let replicas = Arc::new(ReplicaManager::new(
            0,
            Arc::new(BrokerConfig::embedded()),
            Arc::clone(&logs),
        ));
        let mut image = MetadataImage::default();
        let offsets_id = uuid::Uuid::from_u128(1);
        for r in MetadataRecord::new_topic(store::OFFSETS_TOPIC, offsets_id, vec![vec![0]; 3], []) {
            image.apply(&r);
        }
        replicas
            .publish(&MetadataImage::default(), &Arc::new(image.clone()))
            .unwrap();
        let config = CoordinatorConfig {
            group: GroupConfig {
                min_session_timeout_ms: 6_000,
                max_session_timeout_ms: 60_000,
                initial_rebalance_delay_ms: 0,
            },
            offsets_partitions: 3,
            offsets_retention_ms: 7 * 24 * 3_600_000,
            metadata_max_bytes: 4096,
            compaction_min_bytes: 64 * 1024,
        };
        let coordinator =
            GroupCoordinator::new(config, Arc::clone(&replicas) as Arc<dyn OffsetsPartitions>);
        for p in replicas.all() {
            coordinator.load(&p, T0).unwrap();
        }
        (coordinator, replicas)
    }

    fn simple() -> Sender<'static> {
        Sender {
            member_id: "",
            instance_id: None,
            generation_id: -1,
        }
    }

    fn commits(partitions: i32, offset: i64) -> Vec<CommitRequest> {
        (0..partitions)
            .map(|p| CommitRequest {
                topic: "t".into(),
                partition: p,
                offset,
                leader_epoch: -1,
                metadata: Some(format!("m{offset}")),
            })
            .collect()
    }

    #[tokio::test]
    async fn offsets_of_empty_groups_expire_and_take_the_group_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let (coordinator, replicas) = fixture(dir.path());
        let week = coordinator.config().offsets_retention_ms;
        assert!(
            coordinator
                .commit("old", simple(), commits(2, 5), |_, _| true, T0)
                .await
                .iter()
                .all(|c| *c == 0)
        );
        assert!(
            coordinator
                .commit("new", simple(), commits(2, 5), |_, _| true, T0 + week)
                .await
                .iter()
                .all(|c| *c == 0)
        );
        coordinator.expire_offsets(T0 + week + 1);
        assert!(
            !coordinator.group_exists("old"),
            "its offsets expired, and the empty group with them"
        );
        assert_eq!(coordinator.fetch_offsets("new", None).unwrap().len(), 2);
        drop(coordinator);
        drop(replicas);
        let (reloaded, _) = fixture(dir.path());
        assert!(!reloaded.group_exists("old"), "the expiry was written down");
        assert!(reloaded.group_exists("new"));
    }

    #[tokio::test]
    async fn commit_errors_per_partition_and_nothing_created_for_nothing_valid() {
        let dir = tempfile::tempdir().unwrap();
        let (coordinator, _replicas) = fixture(dir.path());
        let mut asked = commits(2, 1);
        asked[1].metadata = Some("x".repeat(5000));
        let codes = coordinator
            .commit("g", simple(), asked, |_, p| p == 0, T0)
            .await;
        assert_eq!(codes, vec![0, E::OffsetMetadataTooLarge.code()]);
        let codes = coordinator
            .commit("nothing", simple(), commits(1, 1), |_, _| false, T0)
            .await;
        assert_eq!(codes, vec![E::UnknownTopicOrPartition.code()]);
        assert!(!coordinator.group_exists("nothing"));
    }

    #[tokio::test]
    async fn compaction_keeps_exactly_the_live_state_and_bounds_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (coordinator, replicas) = fixture(dir.path());
        let groups = ["alpha", "beta", "gamma", "delta"];
        for round in 0..300 {
            for g in groups {
                let codes = coordinator
                    .commit(g, simple(), commits(10, round), |_, _| true, T0 + round)
                    .await;
                assert!(codes.iter().all(|c| *c == 0));
            }
        }
        assert_eq!(coordinator.delete_group("delta", T0).await, 0);
        let before: u64 = replicas.all().iter().map(|p| p.log().size_in_bytes()).sum();
        let mut compacted = 0;
        for index in 0..3 {
            compacted += usize::from(coordinator.compact_partition(index, T0 + 1_000).unwrap());
        }
        assert!(compacted >= 1, "some partition passed the threshold");
        let after: u64 = replicas.all().iter().map(|p| p.log().size_in_bytes()).sum();
        assert!(after * 5 < before, "{before} bytes before, {after} after");
        // A second compaction right away does nothing: the log has not grown.
        for index in 0..3 {
            assert!(!coordinator.compact_partition(index, T0 + 2_000).unwrap());
        }
        drop(coordinator);
        drop(replicas);
        let (reloaded, _) = fixture(dir.path());
        for g in ["alpha", "beta", "gamma"] {
            let offsets = reloaded.fetch_offsets(g, None).unwrap();
            assert_eq!(offsets.len(), 10, "{g}");
            assert!(offsets.iter().all(|(_, c)| {
                c.as_ref()
                    .is_some_and(|c| c.offset == 299 && c.metadata == "m299")
            }));
        }
        assert!(
            reloaded.fetch_offsets("delta", None).unwrap().is_empty(),
            "deleted groups stay deleted"
        );
        assert_eq!(reloaded.len(), 3);
    }

    #[test]
    fn subscriptions_parse_defensively() {
        let mut meta = vec![0, 1, 0, 0, 0, 2];
        for t in ["orders", "payments"] {
            meta.extend_from_slice(&(t.len() as i16).to_be_bytes());
            meta.extend_from_slice(t.as_bytes());
        }
        assert_eq!(
            subscribed_topics(&meta),
            vec!["orders".to_string(), "payments".to_string()]
        );
        assert!(subscribed_topics(&[0, 1, 0x7f, 0xff, 0xff, 0xff, 0, 9, b'x']).is_empty());
        assert!(subscribed_topics(&[1]).is_empty());
    }
}
