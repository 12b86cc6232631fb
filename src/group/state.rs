//! The classic consumer-group state machine for one group, as Kafka runs it. Pure and synchronous:
//! time comes in as `now_ms`, and the waiting parts of the protocol (a JoinGroup held until the
//! rebalance completes, a follower's SyncGroup held until the leader sends the assignment) come out
//! as [`Effects`] that the coordinator delivers to parked requests.
//!
//! States: `Empty` (no members), `PreparingRebalance` (collecting joins), `CompletingRebalance`
//! (joined; waiting for the leader's assignment), `Stable`, `Dead` (deleted). Every completed join
//! phase starts a new generation; requests carrying an old generation or an unknown member id are
//! fenced. Dynamic members must rejoin with the member id the broker gives them (KIP-394); static
//! members (`group.instance.id`, KIP-345) keep their place across restarts within the session
//! timeout.

use std::collections::HashMap;

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Broker settings the state machine follows.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// Supported protocols in the member's order of preference, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// Session expiry is counted from here.
    pub last_heard_ms: i64,
    /// Joined in the current rebalance (a JoinGroup is parked or was answered for it).
    pub joined: bool,
    /// Synced in the current generation.
    pub synced: bool,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// A JoinGroup as the state machine sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new dynamic member must come back with the id it is given.
    pub require_known_member_id: bool,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// The members and their metadata, for the leader only.
    pub members: Vec<(String, Option<String>, Bytes)>,
    /// KIP-814: a static leader rejoining a stable group must not compute a new assignment.
    pub skip_assignment: bool,
}

impl JoinResult {
    pub fn error(code: i16, member_id: &str) -> JoinResult {
        JoinResult {
            error_code: code,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error_code: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(code: i16) -> SyncResult {
        SyncResult {
            error_code: code,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// What a step decided beyond its own answer: parked requests to answer, and whether the group's
/// membership record must be written.
#[derive(Debug, Default)]
pub struct Effects {
    pub joins: Vec<(String, JoinResult)>,
    pub syncs: Vec<(String, SyncResult)>,
    /// The generation, leader or assignments changed: persist the group metadata.
    pub persist: bool,
}

impl Effects {
    fn merge(&mut self, other: Effects) {
        self.joins.extend(other.joins);
        self.syncs.extend(other.syncs);
        self.persist |= other.persist;
    }
}

/// How a JoinGroup goes on.
#[derive(Debug)]
pub enum JoinOutcome {
    Respond(JoinResult),
    /// Park the request under this member id until the join phase completes.
    Wait(String),
}

/// How a SyncGroup goes on.
#[derive(Debug)]
pub enum SyncOutcome {
    Respond(SyncResult),
    /// Park the request under this member id until the leader's assignment arrives.
    Wait(String),
}

#[derive(Debug)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// Members in join order.
    pub members: IndexMap<String, Member>,
    /// Static instance id -> member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, and when.
    pub pending_members: HashMap<String, (i64, i32)>,
    /// When the join phase ends at the latest.
    pub join_deadline_ms: Option<i64>,
    /// The initial delay of a new group's first rebalance is running until this time.
    initial_delay_until_ms: Option<i64>,
    /// When the current sync phase ends at the latest.
    pub sync_deadline_ms: Option<i64>,
    /// When the group last changed state (for offset expiry of empty groups).
    pub state_since_ms: i64,
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

impl Group {
    pub fn new(group_id: &str, now_ms: i64) -> Group {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            join_deadline_ms: None,
            initial_delay_until_ms: None,
            sync_deadline_ms: None,
            state_since_ms: now_ms,
        }
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether a member with these protocols could join: same protocol type, and a protocol every
    /// member (and it) supports.
    fn supports(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
        except: Option<&str>,
    ) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| Some(m.member_id.as_str()) != except)
            .collect();
        if others.is_empty() {
            return true;
        }
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != protocol_type)
        {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            others
                .iter()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// The protocol every member supports that most members prefer (each member votes for its
    /// first choice among the candidates).
    fn select_protocol(&self) -> Option<String> {
        let mut candidates: Vec<&String> = self
            .members
            .values()
            .next()?
            .protocols
            .iter()
            .map(|(n, _)| n)
            .collect();
        candidates.retain(|name| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| &n == name))
        });
        let mut votes: IndexMap<&String, usize> = candidates.iter().map(|c| (*c, 0)).collect();
        for member in self.members.values() {
            if let Some((choice, _)) = member.protocols.iter().find(|(n, _)| votes.contains_key(n))
            {
                *votes.entry(choice).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(n, _)| n.clone())
    }

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Moves to PreparingRebalance (from Empty, Stable or CompletingRebalance).
    fn prepare_rebalance(&mut self, config: &GroupConfig, now_ms: i64) -> Effects {
        let mut effects = Effects::default();
        if self.state == GroupState::CompletingRebalance {
            // Whoever waits for an assignment of the old generation must rejoin.
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                if !member.synced {
                    effects.syncs.push((
                        member.member_id.clone(),
                        SyncResult::error(E::RebalanceInProgress.code()),
                    ));
                }
            }
        }
        let timeout = self.rebalance_timeout_ms();
        if self.state == GroupState::Empty {
            let delay = config.initial_rebalance_delay_ms.min(timeout);
            self.initial_delay_until_ms = Some(now_ms + delay);
        }
        for member in self.members.values_mut() {
            member.synced = false;
        }
        self.sync_deadline_ms = None;
        self.join_deadline_ms = Some(now_ms + timeout);
        self.transition(GroupState::PreparingRebalance, now_ms);
        effects
    }

    fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.joined)
    }

    /// Ends the join phase if it can end now (everyone joined, no initial delay running, or the
    /// deadline passed).
    fn maybe_complete_join(&mut self, now_ms: i64) -> Effects {
        if self.state != GroupState::PreparingRebalance {
            return Effects::default();
        }
        let delayed = self
            .initial_delay_until_ms
            .is_some_and(|until| now_ms < until);
        let expired = self.join_deadline_ms.is_some_and(|d| now_ms >= d);
        if expired || (!delayed && self.all_joined()) {
            self.complete_join(now_ms)
        } else {
            Effects::default()
        }
    }

    /// Starts the next generation with the members that rejoined.
    fn complete_join(&mut self, now_ms: i64) -> Effects {
        let mut effects = Effects {
            persist: true,
            ..Effects::default()
        };
        // Dynamic members that did not rejoin are gone; static ones keep their place (they leave
        // only by LeaveGroup or session expiry).
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.joined && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.pending_members.clear();
        self.initial_delay_until_ms = None;
        if !self.members.is_empty() && self.members.values().all(|m| !m.joined) {
            // Only static members that have not rejoined remain: wait another round.
            self.join_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
            return Effects::default();
        }
        self.join_deadline_ms = None;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader = None;
            self.transition(GroupState::Empty, now_ms);
            return effects;
        }
        self.protocol_name = self.select_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.get(l).is_some_and(|m| m.joined))
        {
            self.leader = self
                .members
                .values()
                .find(|m| m.joined)
                .map(|m| m.member_id.clone());
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        self.sync_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let roster: Vec<(String, Option<String>, Bytes)> = self
            .members
            .values()
            .map(|m| {
                (
                    m.member_id.clone(),
                    m.group_instance_id.clone(),
                    m.metadata(&protocol),
                )
            })
            .collect();
        for member in self.members.values_mut().filter(|m| m.joined) {
            member.last_heard_ms = now_ms;
            effects.joins.push((
                member.member_id.clone(),
                JoinResult {
                    error_code: 0,
                    generation_id: self.generation_id,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: member.member_id.clone(),
                    members: if member.member_id == leader {
                        roster.clone()
                    } else {
                        Vec::new()
                    },
                    skip_assignment: false,
                },
            ));
        }
        effects
    }

    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.shift_remove(member_id)?;
        if let Some(instance) = &member.group_instance_id
            && self
                .static_members
                .get(instance)
                .is_some_and(|id| id == member_id)
        {
            self.static_members.remove(instance);
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
        // An empty group keeps its protocol type (it is still a "consumer" group to ListGroups);
        // the next first member sets it anew.
        Some(member)
    }

    /// The answer a member gets about the current generation without a new rebalance.
    fn current_generation(&self, member_id: &str, skip_assignment: bool) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinResult {
            error_code: 0,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .values()
                    .map(|m| {
                        (
                            m.member_id.clone(),
                            m.group_instance_id.clone(),
                            m.metadata(&protocol),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
            skip_assignment,
        }
    }

    fn add_member(&mut self, member_id: String, request: &JoinRequest, now_ms: i64) {
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        self.members.insert(
            member_id.clone(),
            Member {
                member_id,
                group_instance_id: request.group_instance_id.clone(),
                client_id: request.client_id.clone(),
                client_host: request.client_host.clone(),
                session_timeout_ms: request.session_timeout_ms,
                rebalance_timeout_ms: request.rebalance_timeout_ms,
                protocol_type: request.protocol_type.clone(),
                protocols: request.protocols.clone(),
                assignment: Bytes::new(),
                last_heard_ms: now_ms,
                joined: true,
                synced: false,
            },
        );
    }

    /// Marks the member as joined (with its new details) and starts or continues a rebalance.
    fn join_and_rebalance(
        &mut self,
        member_id: &str,
        request: &JoinRequest,
        config: &GroupConfig,
        now_ms: i64,
    ) -> (JoinOutcome, Effects) {
        let mut effects = Effects::default();
        if let Some(member) = self.members.get_mut(member_id) {
            member.protocols = request.protocols.clone();
            member.session_timeout_ms = request.session_timeout_ms;
            member.rebalance_timeout_ms = request.rebalance_timeout_ms;
            member.client_id = request.client_id.clone();
            member.client_host = request.client_host.clone();
            member.last_heard_ms = now_ms;
            member.joined = true;
        } else {
            self.add_member(member_id.to_string(), request, now_ms);
        }
        match self.state {
            GroupState::PreparingRebalance => {
                // A new member during the initial delay extends it, up to the rebalance timeout.
                if let Some(until) = self.initial_delay_until_ms
                    && now_ms < until
                {
                    let cap = self.join_deadline_ms.unwrap_or(until);
                    self.initial_delay_until_ms =
                        Some((now_ms + config.initial_rebalance_delay_ms).min(cap));
                }
            }
            _ => {
                let kept = self
                    .members
                    .keys()
                    .filter(|id| *id != member_id)
                    .cloned()
                    .collect::<Vec<_>>();
                effects.merge(self.prepare_rebalance(config, now_ms));
                // Everyone else must rejoin for the new generation.
                for id in kept {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.joined = false;
                    }
                }
            }
        }
        effects.merge(self.maybe_complete_join(now_ms));
        let answered = effects.joins.iter().position(|(id, _)| id == member_id);
        match answered {
            Some(i) => {
                let (_, result) = effects.joins.remove(i);
                (JoinOutcome::Respond(result), effects)
            }
            None => (JoinOutcome::Wait(member_id.to_string()), effects),
        }
    }

    /// JoinGroup.
    pub fn join(
        &mut self,
        request: JoinRequest,
        config: &GroupConfig,
        now_ms: i64,
    ) -> (JoinOutcome, Effects) {
        let respond = |code: i16, id: &str| {
            (
                JoinOutcome::Respond(JoinResult::error(code, id)),
                Effects::default(),
            )
        };
        if request.session_timeout_ms < config.min_session_timeout_ms
            || request.session_timeout_ms > config.max_session_timeout_ms
        {
            return respond(E::InvalidSessionTimeout.code(), &request.member_id);
        }
        if self.state == GroupState::Dead {
            return respond(E::CoordinatorNotAvailable.code(), &request.member_id);
        }
        let except = (!request.member_id.is_empty()).then_some(request.member_id.as_str());
        if !self.supports(&request.protocol_type, &request.protocols, except) {
            return respond(E::InconsistentGroupProtocol.code(), &request.member_id);
        }
        if request.member_id.is_empty() {
            self.join_new_member(request, config, now_ms)
        } else {
            self.join_known_member(request, config, now_ms)
        }
    }

    fn join_new_member(
        &mut self,
        request: JoinRequest,
        config: &GroupConfig,
        now_ms: i64,
    ) -> (JoinOutcome, Effects) {
        // Kafka names static members after their instance id, dynamic ones after their client id.
        let member_id = new_member_id(
            request
                .group_instance_id
                .as_deref()
                .unwrap_or(&request.client_id),
        );
        if let Some(instance) = request.group_instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                return self.replace_static_member(&old_id, member_id, request, config, now_ms);
            }
            return self.join_and_rebalance(&member_id, &request, config, now_ms);
        }
        if request.require_known_member_id {
            self.pending_members
                .insert(member_id.clone(), (now_ms, request.session_timeout_ms));
            let result = JoinResult::error(E::MemberIdRequired.code(), &member_id);
            return (JoinOutcome::Respond(result), Effects::default());
        }
        self.join_and_rebalance(&member_id, &request, config, now_ms)
    }

    /// A static member restarted: its old member id is fenced and replaced. In a stable group with
    /// unchanged protocols it gets the current generation back without a rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        request: JoinRequest,
        config: &GroupConfig,
        now_ms: i64,
    ) -> (JoinOutcome, Effects) {
        let mut effects = Effects::default();
        let Some(mut member) = self.members.shift_remove(old_id) else {
            self.static_members
                .remove(request.group_instance_id.as_deref().unwrap_or_default());
            return self.join_and_rebalance(&new_id, &request, config, now_ms);
        };
        effects.joins.push((
            old_id.to_string(),
            JoinResult::error(E::FencedInstanceId.code(), old_id),
        ));
        effects.syncs.push((
            old_id.to_string(),
            SyncResult::error(E::FencedInstanceId.code()),
        ));
        let unchanged = member.protocols == request.protocols;
        member.member_id = new_id.clone();
        member.last_heard_ms = now_ms;
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        self.members.insert(new_id.clone(), member);
        if let Some(instance) = &request.group_instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && unchanged {
            effects.persist = true;
            let is_leader = self.leader.as_deref() == Some(new_id.as_str());
            let result = self.current_generation(&new_id, is_leader);
            return (JoinOutcome::Respond(result), effects);
        }
        let (outcome, more) = self.join_and_rebalance(&new_id, &request, config, now_ms);
        effects.merge(more);
        (outcome, effects)
    }

    fn join_known_member(
        &mut self,
        request: JoinRequest,
        config: &GroupConfig,
        now_ms: i64,
    ) -> (JoinOutcome, Effects) {
        let member_id = request.member_id.clone();
        let respond = |code: i16| {
            (
                JoinOutcome::Respond(JoinResult::error(code, &member_id)),
                Effects::default(),
            )
        };
        if self.pending_members.remove(&member_id).is_some() {
            return self.join_and_rebalance(&member_id, &request, config, now_ms);
        }
        if let Err(code) = self.check_member(&member_id, request.group_instance_id.as_deref()) {
            return respond(code);
        }
        let unchanged = self
            .members
            .get(&member_id)
            .is_some_and(|m| m.protocols == request.protocols);
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::CompletingRebalance if unchanged => {
                // The member missed its join answer: repeat it.
                (
                    JoinOutcome::Respond(self.current_generation(&member_id, false)),
                    Effects::default(),
                )
            }
            GroupState::Stable if unchanged && !is_leader => {
                if let Some(m) = self.members.get_mut(&member_id) {
                    m.last_heard_ms = now_ms;
                }
                (
                    JoinOutcome::Respond(self.current_generation(&member_id, false)),
                    Effects::default(),
                )
            }
            _ => self.join_and_rebalance(&member_id, &request, config, now_ms),
        }
    }

    /// Checks a member id (and static instance id) against the group.
    pub fn check_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), i16> {
        if let Some(instance) = instance_id
            && let Some(current) = self.static_members.get(instance)
            && current != member_id
        {
            return Err(E::FencedInstanceId.code());
        }
        if !self.members.contains_key(member_id) {
            return Err(E::UnknownMemberId.code());
        }
        Ok(())
    }

    /// SyncGroup.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> (SyncOutcome, Effects) {
        let respond = |code: i16| {
            (
                SyncOutcome::Respond(SyncResult::error(code)),
                Effects::default(),
            )
        };
        if self.state == GroupState::Dead {
            return respond(E::CoordinatorNotAvailable.code());
        }
        if let Err(code) = self.check_member(member_id, instance_id) {
            return respond(code);
        }
        if generation_id != self.generation_id {
            return respond(E::IllegalGeneration.code());
        }
        let (protocol_type, protocol_name) = protocol;
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return respond(E::InconsistentGroupProtocol.code());
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heard_ms = now_ms;
        }
        match self.state {
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {
                respond(E::RebalanceInProgress.code())
            }
            GroupState::Stable => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.synced = true;
                }
                self.clear_sync_deadline_if_all_synced();
                let result = self.sync_result(member_id);
                (SyncOutcome::Respond(result), Effects::default())
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.synced = true;
                }
                if self.leader.as_deref() != Some(member_id) {
                    return (SyncOutcome::Wait(member_id.to_string()), Effects::default());
                }
                let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                for member in self.members.values_mut() {
                    member.assignment = given.remove(&member.member_id).unwrap_or_default();
                }
                // Followers that never ask for their assignment are still dropped at the deadline.
                self.clear_sync_deadline_if_all_synced();
                self.transition(GroupState::Stable, now_ms);
                let mut effects = Effects {
                    persist: true,
                    ..Effects::default()
                };
                for member in self.members.values() {
                    if member.member_id != member_id {
                        effects.syncs.push((
                            member.member_id.clone(),
                            self.sync_result(&member.member_id),
                        ));
                    }
                }
                (SyncOutcome::Respond(self.sync_result(member_id)), effects)
            }
        }
    }

    fn clear_sync_deadline_if_all_synced(&mut self) {
        if self.members.values().all(|m| m.synced) {
            self.sync_deadline_ms = None;
        }
    }

    fn sync_result(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error_code: 0,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Heartbeat: the error code to answer with.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> i16 {
        if self.state == GroupState::Dead {
            return E::CoordinatorNotAvailable.code();
        }
        if let Err(code) = self.check_member(member_id, instance_id) {
            return code;
        }
        if generation_id != self.generation_id {
            return E::IllegalGeneration.code();
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heard_ms = now_ms;
        }
        match self.state {
            GroupState::PreparingRebalance => E::RebalanceInProgress.code(),
            GroupState::Empty => E::UnknownMemberId.code(),
            _ => 0,
        }
    }

    /// LeaveGroup for some members: an error code per member, in order.
    pub fn leave(
        &mut self,
        members: &[(String, Option<String>)],
        config: &GroupConfig,
        now_ms: i64,
    ) -> (Vec<i16>, Effects) {
        let mut codes = Vec::with_capacity(members.len());
        let mut effects = Effects::default();
        let mut left = false;
        for (member_id, instance_id) in members {
            // A static member may leave by instance id alone.
            let id = match (member_id.is_empty(), instance_id) {
                (true, Some(instance)) => self
                    .static_members
                    .get(instance)
                    .cloned()
                    .unwrap_or_default(),
                _ => member_id.clone(),
            };
            if self.pending_members.remove(&id).is_some() {
                codes.push(0);
                continue;
            }
            if let Err(code) = self.check_member(&id, instance_id.as_deref()) {
                codes.push(code);
                continue;
            }
            self.remove_member(&id);
            effects.joins.push((
                id.clone(),
                JoinResult::error(E::UnknownMemberId.code(), &id),
            ));
            codes.push(0);
            left = true;
        }
        if left {
            effects.merge(self.after_departure(config, now_ms));
        }
        (codes, effects)
    }

    /// After members left or expired: rebalance the rest, or become empty.
    fn after_departure(&mut self, config: &GroupConfig, now_ms: i64) -> Effects {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    let mut effects = Effects {
                        persist: true,
                        ..Effects::default()
                    };
                    effects.merge(self.complete_join(now_ms));
                    effects
                } else {
                    let mut effects = self.prepare_rebalance(config, now_ms);
                    for m in self.members.values_mut() {
                        m.joined = false;
                    }
                    effects.merge(self.maybe_complete_join(now_ms));
                    effects
                }
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now_ms),
            GroupState::Empty | GroupState::Dead => Effects::default(),
        }
    }

    /// Time passes: session expiry, the end of the join phase, the sync deadline, pending members
    /// that never came back.
    pub fn tick(&mut self, config: &GroupConfig, now_ms: i64) -> Effects {
        self.pending_members
            .retain(|_, (since, session)| now_ms - *since < i64::from(*session));
        let mut effects = Effects::default();
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                // A member whose JoinGroup or SyncGroup is parked is waiting on the broker, not
                // silent.
                let parked = (self.state == GroupState::PreparingRebalance && m.joined)
                    || (self.state == GroupState::CompletingRebalance && m.synced);
                !parked && now_ms - m.last_heard_ms >= i64::from(m.session_timeout_ms)
            })
            .map(|m| m.member_id.clone())
            .collect();
        if !expired.is_empty() {
            for id in &expired {
                self.remove_member(id);
                effects
                    .syncs
                    .push((id.clone(), SyncResult::error(E::UnknownMemberId.code())));
            }
            effects.merge(self.after_departure(config, now_ms));
        }
        if matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) && self.sync_deadline_ms.is_some_and(|d| now_ms >= d)
        {
            // Members that never asked for their assignment are dropped and the rest rebalance.
            let missing: Vec<String> = self
                .members
                .values()
                .filter(|m| !m.synced)
                .map(|m| m.member_id.clone())
                .collect();
            for id in &missing {
                self.remove_member(id);
            }
            effects.merge(self.after_departure(config, now_ms));
        }
        effects.merge(self.maybe_complete_join(now_ms));
        effects
    }

    /// The earliest time `tick` may change something.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let sessions = self
            .members
            .values()
            .map(|m| m.last_heard_ms + i64::from(m.session_timeout_ms));
        let pending = self
            .pending_members
            .values()
            .map(|(since, s)| since + i64::from(*s));
        sessions
            .chain(pending)
            .chain(self.join_deadline_ms)
            .chain(self.initial_delay_until_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }

    /// Whether an offset commit from this member at this generation is accepted (generation -1 with
    /// no member id is a simple commit from outside the group protocol).
    pub fn check_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), i16> {
        if self.state == GroupState::Dead {
            return Err(E::CoordinatorNotAvailable.code());
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            // A commit from outside the group protocol (kcat, assign() users, admin tools).
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.check_member(member_id, instance_id)?;
            if generation_id != self.generation_id {
                return Err(E::IllegalGeneration.code());
            }
        } else {
            return Err(E::UnknownMemberId.code());
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(E::RebalanceInProgress.code());
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heard_ms = now_ms;
        }
        Ok(())
    }

    /// Restores a group from its persisted membership record (at start-up): Stable with those
    /// members (their session timers starting now), or Empty.
    pub fn restore(
        &mut self,
        generation_id: i32,
        protocol_type: Option<String>,
        protocol_name: Option<String>,
        leader: Option<String>,
        members: Vec<Member>,
        now_ms: i64,
    ) {
        self.generation_id = generation_id;
        self.protocol_type = protocol_type;
        self.protocol_name = protocol_name;
        self.leader = leader;
        self.members.clear();
        self.static_members.clear();
        for mut m in members {
            m.last_heard_ms = now_ms;
            m.joined = false;
            m.synced = true;
            if let Some(instance) = &m.group_instance_id {
                self.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            self.members.insert(m.member_id.clone(), m);
        }
        let state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.transition(state, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: GroupConfig = GroupConfig {
        min_session_timeout_ms: 6_000,
        max_session_timeout_ms: 1_800_000,
        initial_rebalance_delay_ms: 3_000,
    };

    fn join(member_id: &str, instance: Option<&str>, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_string(),
            group_instance_id: instance.map(str::to_string),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 60_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            require_known_member_id: true,
        }
    }

    /// Joins a new dynamic member through MEMBER_ID_REQUIRED; returns its id and what the second
    /// join did.
    fn join_new(group: &mut Group, now: i64) -> (String, JoinOutcome, Effects) {
        let (first, _) = group.join(join("", None, &["range"]), &CONFIG, now);
        let JoinOutcome::Respond(required) = first else {
            panic!("expected MEMBER_ID_REQUIRED")
        };
        assert_eq!(required.error_code, E::MemberIdRequired.code());
        let (outcome, effects) =
            group.join(join(&required.member_id, None, &["range"]), &CONFIG, now);
        (required.member_id, outcome, effects)
    }

    #[test]
    fn a_first_member_waits_out_the_initial_delay_then_leads() {
        let mut g = Group::new("g", 0);
        let (id, outcome, effects) = join_new(&mut g, 0);
        assert!(matches!(outcome, JoinOutcome::Wait(_)));
        assert!(effects.joins.is_empty());
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert!(
            g.tick(&CONFIG, 2_999).joins.is_empty(),
            "still inside the initial delay"
        );
        let effects = g.tick(&CONFIG, 3_000);
        let (member, result) = &effects.joins[0];
        assert_eq!(member, &id);
        assert_eq!(
            (result.generation_id, result.leader.as_str()),
            (1, id.as_str())
        );
        assert_eq!(result.members.len(), 1, "the leader gets the member list");
        assert_eq!(result.protocol_name.as_deref(), Some("range"));
        assert!(effects.persist);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (outcome, effects) = g.sync(
            &id,
            None,
            1,
            (None, None),
            vec![(id.clone(), Bytes::from_static(b"A"))],
            3_100,
        );
        let SyncOutcome::Respond(sync) = outcome else {
            panic!("the leader is answered at once")
        };
        assert_eq!(sync.assignment, Bytes::from_static(b"A"));
        assert!(effects.persist);
        assert_eq!(g.state, GroupState::Stable);
    }

    fn stable_group_of_two() -> (Group, String, String) {
        let mut g = Group::new("g", 0);
        let (a, _, _) = join_new(&mut g, 0);
        let (b, _, _) = join_new(&mut g, 100);
        let effects = g.tick(&CONFIG, 10_000);
        assert_eq!(effects.joins.len(), 2);
        let leader = g.leader.clone().unwrap();
        let follower = if leader == a { b.clone() } else { a.clone() };
        let (outcome, _) = g.sync(&follower, None, 1, (None, None), vec![], 10_001);
        assert!(
            matches!(outcome, SyncOutcome::Wait(_)),
            "a follower waits for the leader"
        );
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"to-a")),
            (b.clone(), Bytes::from_static(b"to-b")),
        ];
        let (_, effects) = g.sync(
            &leader,
            None,
            1,
            (Some("consumer"), Some("range")),
            assignments,
            10_002,
        );
        assert_eq!(
            effects.syncs.len(),
            1,
            "the follower's parked sync is answered"
        );
        assert_eq!(effects.syncs[0].0, follower);
        (g, a, b)
    }

    #[test]
    fn followers_get_the_leaders_assignment_and_heartbeats_are_fenced_by_generation() {
        let (mut g, a, _) = stable_group_of_two();
        assert_eq!(g.members[&a].assignment, Bytes::from_static(b"to-a"));
        assert_eq!(g.heartbeat(&a, None, 1, 11_000), 0);
        assert_eq!(
            g.heartbeat(&a, None, 0, 11_000),
            E::IllegalGeneration.code()
        );
        assert_eq!(
            g.heartbeat("nobody", None, 1, 11_000),
            E::UnknownMemberId.code()
        );
    }

    #[test]
    fn a_member_leaving_rebalances_the_rest() {
        let (mut g, a, b) = stable_group_of_two();
        let (codes, _) = g.leave(&[(a.clone(), None)], &CONFIG, 12_000);
        assert_eq!(codes, vec![0]);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(
            g.heartbeat(&b, None, 1, 12_001),
            E::RebalanceInProgress.code()
        );
        let (outcome, _) = g.join(join(&b, None, &["range"]), &CONFIG, 12_002);
        let JoinOutcome::Respond(result) = outcome else {
            panic!("the last member completes the join")
        };
        assert_eq!(
            (result.generation_id, result.leader.as_str()),
            (2, b.as_str())
        );
        assert_eq!(
            g.leave(&[("ghost".into(), None)], &CONFIG, 12_003).0,
            vec![E::UnknownMemberId.code()]
        );
    }

    #[test]
    fn silent_members_expire_after_the_session_timeout() {
        let (mut g, a, b) = stable_group_of_two();
        assert_eq!(g.heartbeat(&b, None, 1, 19_000), 0);
        g.tick(&CONFIG, 20_100);
        assert!(!g.members.contains_key(&a), "a was silent for 10 s");
        assert_eq!(g.state, GroupState::PreparingRebalance);
        g.tick(&CONFIG, 28_000);
        assert!(g.members.contains_key(&b));
        // b neither rejoins nor heartbeats: it expires too, and the group is left empty.
        let effects = g.tick(&CONFIG, 29_001);
        assert!(effects.persist);
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.generation_id, 2);
    }

    #[test]
    fn stale_generations_and_unknown_members_cannot_commit() {
        let (mut g, a, _) = stable_group_of_two();
        assert_eq!(g.check_commit(&a, None, 1, 0), Ok(()));
        assert_eq!(
            g.check_commit(&a, None, 7, 0),
            Err(E::IllegalGeneration.code())
        );
        assert_eq!(
            g.check_commit("x", None, 1, 0),
            Err(E::UnknownMemberId.code())
        );
        assert_eq!(
            g.check_commit("", None, -1, 0),
            Err(E::UnknownMemberId.code()),
            "not while members are active"
        );
        let mut empty = Group::new("e", 0);
        assert_eq!(
            empty.check_commit("", None, -1, 0),
            Ok(()),
            "simple consumers commit to empty groups"
        );
    }

    #[test]
    fn protocols_must_be_shared_and_the_most_preferred_common_one_wins() {
        let mut g = Group::new("g", 0);
        let mut first = join("", None, &["roundrobin", "range"]);
        first.require_known_member_id = false;
        g.join(first, &CONFIG, 0);
        let mut second = join("", None, &["range", "roundrobin"]);
        second.require_known_member_id = false;
        g.join(second, &CONFIG, 0);
        let mut third = join("", None, &["range"]);
        third.require_known_member_id = false;
        g.join(third, &CONFIG, 0);
        let mut odd = join("", None, &["sticky"]);
        odd.require_known_member_id = false;
        let (outcome, _) = g.join(odd, &CONFIG, 0);
        assert!(
            matches!(outcome, JoinOutcome::Respond(r) if r.error_code == E::InconsistentGroupProtocol.code())
        );
        g.tick(&CONFIG, 5_000);
        assert_eq!(g.protocol_name.as_deref(), Some("range"));
    }

    #[test]
    fn a_restarted_static_member_gets_its_place_back_without_a_rebalance() {
        let mut g = Group::new("g", 0);
        let (outcome, _) = g.join(join("", Some("inst-1"), &["range"]), &CONFIG, 0);
        assert!(
            matches!(outcome, JoinOutcome::Wait(_)),
            "static members need no MEMBER_ID_REQUIRED"
        );
        let effects = g.tick(&CONFIG, 3_000);
        let old_id = effects.joins[0].0.clone();
        g.sync(
            &old_id,
            Some("inst-1"),
            1,
            (None, None),
            vec![(old_id.clone(), Bytes::from_static(b"P0"))],
            3_001,
        );
        assert_eq!(g.state, GroupState::Stable);
        // The process restarts and joins again with no member id but the same instance id.
        let (outcome, effects) = g.join(join("", Some("inst-1"), &["range"]), &CONFIG, 5_000);
        let JoinOutcome::Respond(result) = outcome else {
            panic!("answered at once")
        };
        assert_eq!(
            (result.error_code, result.generation_id),
            (0, 1),
            "same generation: no rebalance"
        );
        assert_ne!(result.member_id, old_id);
        assert_eq!(g.state, GroupState::Stable);
        assert!(
            effects
                .syncs
                .iter()
                .any(|(id, r)| id == &old_id && r.error_code == E::FencedInstanceId.code())
        );
        let (sync, _) = g.sync(
            &result.member_id,
            Some("inst-1"),
            1,
            (None, None),
            vec![],
            5_001,
        );
        assert!(
            matches!(sync, SyncOutcome::Respond(r) if r.assignment == Bytes::from_static(b"P0"))
        );
        // The old incarnation is fenced.
        assert_eq!(
            g.heartbeat(&old_id, Some("inst-1"), 1, 5_002),
            E::FencedInstanceId.code()
        );
    }

    #[test]
    fn static_members_that_do_not_rejoin_keep_their_place_until_their_session_ends() {
        let mut g = Group::new("g", 0);
        g.join(join("", Some("s1"), &["range"]), &CONFIG, 0);
        g.join(join("", Some("s2"), &["range"]), &CONFIG, 0);
        let effects = g.tick(&CONFIG, 3_000);
        let ids: Vec<String> = effects.joins.iter().map(|(id, _)| id.clone()).collect();
        let leader = g.leader.clone().unwrap();
        g.sync(&leader, None, 1, (None, None), vec![], 3_001);
        let follower = ids.iter().find(|id| **id != leader).unwrap().clone();
        g.sync(&follower, None, 1, (None, None), vec![], 3_001);
        // A third (dynamic) member joins; only the leader rejoins before the deadline.
        let mut third = join("", None, &["range"]);
        third.require_known_member_id = false;
        g.join(third, &CONFIG, 4_000);
        g.join(
            join(
                &leader,
                Some(if ids[0] == leader { "s1" } else { "s2" }),
                &["range"],
            ),
            &CONFIG,
            4_001,
        );
        // The follower keeps heartbeating (and hears that a rebalance is on) but never rejoins.
        let follower_instance = g.members[&follower].group_instance_id.clone();
        for t in (5_000..64_000).step_by(5_000) {
            let code = g.heartbeat(&follower, follower_instance.as_deref(), 1, t);
            assert_eq!(code, E::RebalanceInProgress.code());
            g.tick(&CONFIG, t);
        }
        g.tick(&CONFIG, 4_000 + 60_000);
        assert!(
            g.members.contains_key(&follower),
            "a static member is not dropped for missing a rebalance"
        );
        assert_eq!(g.generation_id, 2);
    }

    #[test]
    fn session_timeouts_must_be_within_the_broker_limits() {
        let mut g = Group::new("g", 0);
        let mut request = join("", None, &["range"]);
        request.session_timeout_ms = 1_000;
        let (outcome, _) = g.join(request, &CONFIG, 0);
        assert!(
            matches!(outcome, JoinOutcome::Respond(r) if r.error_code == E::InvalidSessionTimeout.code())
        );
    }

    #[test]
    fn pending_member_ids_expire() {
        let mut g = Group::new("g", 0);
        g.join(join("", None, &["range"]), &CONFIG, 0);
        assert_eq!(g.pending_members.len(), 1);
        g.tick(&CONFIG, 10_000);
        assert!(g.pending_members.is_empty());
        assert_eq!(g.state, GroupState::Empty);
    }
}
