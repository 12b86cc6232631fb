//! The consumer group APIs across their versions: FindCoordinator, the join/sync/heartbeat/leave
//! cycle, OffsetCommit and OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and OffsetDelete,
//! with Kafka's error codes.

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::harness::{Conn, TestBroker};
use crate::requests::{create_topic, name};

const MEMBER_ID_REQUIRED: i16 = 79;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_ID_NOT_FOUND: i16 = 69;
const OFFSET_METADATA_TOO_LARGE: i16 = 12;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn broker() -> TestBroker {
    TestBroker::start(&["group.initial.rebalance.delay.ms=0"])
}

/// A ConsumerProtocolSubscription v0 for `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = vec![0, 0];
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

fn join_request(group: &str, member: &str, topics: &[&str]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_group_instance_id(None)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(topics)),
        ])
}

/// Joins `group` as its only member at JoinGroup `version`; returns (member id, generation).
fn join_alone(conn: &mut Conn, version: i16, group: &str, topics: &[&str]) -> (String, i32) {
    let mut response: JoinGroupResponse =
        conn.call(ApiKey::JoinGroup, version, &join_request(group, "", topics));
    if version >= 4 {
        assert_eq!(response.error_code, MEMBER_ID_REQUIRED, "v{version}");
        let member = response.member_id.to_string();
        assert!(
            member.starts_with("protocol-tests-"),
            "member ids start with the client id: {member}"
        );
        response = conn.call(
            ApiKey::JoinGroup,
            version,
            &join_request(group, &member, topics),
        );
    }
    assert_eq!(response.error_code, 0, "v{version}");
    assert_eq!(
        response.leader, response.member_id,
        "v{version}: the only member leads"
    );
    assert_eq!(
        response.members.len(),
        1,
        "v{version}: the leader gets the members"
    );
    assert_eq!(response.members[0].metadata, subscription(topics));
    assert_eq!(response.protocol_name.as_deref(), Some("range"));
    (response.member_id.to_string(), response.generation_id)
}

#[test]
fn find_coordinator_every_version() {
    let broker = broker();
    let mut conn = broker.connect();
    for version in 0..=3 {
        let response: FindCoordinatorResponse = conn.call(
            ApiKey::FindCoordinator,
            version,
            &FindCoordinatorRequest::default().with_key(s("g")),
        );
        assert_eq!(
            (response.error_code, response.node_id.0, response.port),
            (0, 0, i32::from(broker.addr.port())),
            "v{version}"
        );
    }
    let batched = FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]);
    let response: FindCoordinatorResponse = conn.call(ApiKey::FindCoordinator, 4, &batched);
    assert_eq!(response.coordinators.len(), 2);
    assert!(
        response
            .coordinators
            .iter()
            .all(|c| c.error_code == 0 && c.node_id.0 == 0)
    );
    let transactions = FindCoordinatorRequest::default()
        .with_key(s("tx"))
        .with_key_type(1);
    let response: FindCoordinatorResponse = conn.call(ApiKey::FindCoordinator, 3, &transactions);
    assert_eq!(
        response.error_code, 15,
        "COORDINATOR_NOT_AVAILABLE: no transactions"
    );
    assert!(
        broker.partition_dir("__consumer_offsets", 49).exists(),
        "offsets.topic.num.partitions = 50"
    );
}

#[test]
fn join_sync_heartbeat_leave_every_version() {
    let broker = broker();
    let mut conn = broker.connect();
    for version in 0..=9i16 {
        let group = format!("cycle-v{version}");
        let (member, generation) = join_alone(&mut conn, version, &group, &["t"]);
        let sync_version = version.min(5);
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(generation)
            .with_member_id(s(&member))
            .with_protocol_type(if sync_version >= 5 {
                Some(s("consumer"))
            } else {
                None
            })
            .with_protocol_name(if sync_version >= 5 {
                Some(s("range"))
            } else {
                None
            })
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(Bytes::from_static(b"assigned")),
            ]);
        let synced: SyncGroupResponse = conn.call(ApiKey::SyncGroup, sync_version, &sync);
        assert_eq!(
            (synced.error_code, &synced.assignment[..]),
            (0, &b"assigned"[..]),
            "v{version}"
        );
        let heartbeat_version = version.min(4);
        let beat = |generation: i32| {
            HeartbeatRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_generation_id(generation)
                .with_member_id(s(&member))
        };
        let ok: HeartbeatResponse =
            conn.call(ApiKey::Heartbeat, heartbeat_version, &beat(generation));
        assert_eq!(ok.error_code, 0);
        let stale: HeartbeatResponse =
            conn.call(ApiKey::Heartbeat, heartbeat_version, &beat(generation - 1));
        assert_eq!(stale.error_code, ILLEGAL_GENERATION);
        let leave_version = version.min(5);
        let leave = if leave_version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_members(vec![MemberIdentity::default().with_member_id(s(&member))])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_member_id(s(&member))
        };
        let left: LeaveGroupResponse = conn.call(ApiKey::LeaveGroup, leave_version, &leave);
        assert_eq!(left.error_code, 0);
        if leave_version >= 3 {
            assert_eq!(left.members[0].error_code, 0);
        }
        let gone: HeartbeatResponse =
            conn.call(ApiKey::Heartbeat, heartbeat_version, &beat(generation));
        assert_eq!(
            gone.error_code, UNKNOWN_MEMBER_ID,
            "v{version}: after leaving"
        );
    }
}

#[test]
fn join_errors() {
    let broker = broker();
    let mut conn = broker.connect();
    let bad_timeout = join_request("errors", "", &["t"]).with_session_timeout_ms(100);
    let response: JoinGroupResponse = conn.call(ApiKey::JoinGroup, 5, &bad_timeout);
    assert_eq!(response.error_code, INVALID_SESSION_TIMEOUT);
    let unknown: JoinGroupResponse = conn.call(
        ApiKey::JoinGroup,
        5,
        &join_request("errors", "nobody", &["t"]),
    );
    assert_eq!(unknown.error_code, UNKNOWN_MEMBER_ID);
    join_alone(&mut conn, 5, "errors", &["t"]);
    let unnamed = SyncGroupRequest::default()
        .with_group_id(GroupId(s("errors")))
        .with_member_id(s("x"))
        .with_protocol_type(None);
    let response: SyncGroupResponse = conn.call(ApiKey::SyncGroup, 5, &unnamed);
    assert_eq!(
        response.error_code, INCONSISTENT_GROUP_PROTOCOL,
        "v5 needs protocol type and name"
    );
    let other_type = join_request("errors", "", &["t"]).with_protocol_type(s("connect"));
    let response: JoinGroupResponse = conn.call(ApiKey::JoinGroup, 5, &other_type);
    assert_eq!(response.error_code, INCONSISTENT_GROUP_PROTOCOL);
}

fn commit_request(
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    metadata: &str,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(3)
                        .with_committed_metadata(Some(s(metadata))),
                ]),
        ])
}

fn fetch_one(
    conn: &mut Conn,
    version: i16,
    group: &str,
    topic: &str,
    partition: i32,
) -> (i16, i64, i32, Option<String>) {
    if version >= 8 {
        let request = OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopics::default()
                        .with_name(name(topic))
                        .with_partition_indexes(vec![partition]),
                ])),
        ]);
        let response: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, version, &request);
        let p = &response.groups[0].topics[0].partitions[0];
        return (
            p.error_code,
            p.committed_offset,
            p.committed_leader_epoch,
            p.metadata.as_ref().map(|m| m.to_string()),
        );
    }
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(name(topic))
                .with_partition_indexes(vec![partition]),
        ]));
    let response: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, version, &request);
    let p = &response.topics[0].partitions[0];
    (
        p.error_code,
        p.committed_offset,
        p.committed_leader_epoch,
        p.metadata.as_ref().map(|m| m.to_string()),
    )
}

#[test]
fn offset_commit_and_fetch_every_version() {
    let broker = broker();
    let mut conn = broker.connect();
    create_topic(&mut conn, "committed", 2, &[]);
    for version in 2..=9 {
        let group = format!("offsets-v{version}");
        let response: OffsetCommitResponse = conn.call(
            ApiKey::OffsetCommit,
            version,
            &commit_request(&group, "committed", 1, 40 + i64::from(version), "meta"),
        );
        assert_eq!(
            response.topics[0].partitions[0].error_code, 0,
            "commit v{version}"
        );
        for fetch_version in 1..=9 {
            let (code, offset, epoch, metadata) =
                fetch_one(&mut conn, fetch_version, &group, "committed", 1);
            assert_eq!(
                (code, offset, metadata.as_deref()),
                (0, 40 + i64::from(version), Some("meta")),
                "commit v{version} fetch v{fetch_version}"
            );
            let expected_epoch = if version >= 6 && fetch_version >= 5 {
                3
            } else {
                -1
            };
            assert_eq!(
                epoch, expected_epoch,
                "commit v{version} fetch v{fetch_version}"
            );
            assert_eq!(
                fetch_one(&mut conn, fetch_version, &group, "committed", 0).1,
                -1,
                "nothing committed there"
            );
        }
    }
    let too_large: OffsetCommitResponse = conn.call(
        ApiKey::OffsetCommit,
        9,
        &commit_request("big", "committed", 0, 1, &"m".repeat(5000)),
    );
    assert_eq!(
        too_large.topics[0].partitions[0].error_code,
        OFFSET_METADATA_TOO_LARGE
    );
    let unknown: OffsetCommitResponse = conn.call(
        ApiKey::OffsetCommit,
        9,
        &commit_request("big", "no-such-topic", 0, 1, ""),
    );
    assert_eq!(unknown.topics[0].partitions[0].error_code, 3);
    // All of a group's offsets: topics null (v2+).
    let all: OffsetFetchResponse = conn.call(
        ApiKey::OffsetFetch,
        7,
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s("offsets-v9")))
            .with_topics(None),
    );
    assert_eq!(all.topics.len(), 1);
    assert_eq!(all.topics[0].partitions[0].committed_offset, 49);
}

#[test]
fn member_commits_are_fenced_by_generation() {
    let broker = broker();
    let mut conn = broker.connect();
    create_topic(&mut conn, "t", 1, &[]);
    let (member, generation) = join_alone(&mut conn, 9, "fenced", &["t"]);
    let commit = |member: &str, generation: i32| {
        commit_request("fenced", "t", 0, 7, "")
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
    };
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("fenced")))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_generation_id(generation)
        .with_member_id(s(&member))
        .with_assignments(vec![]);
    let _: SyncGroupResponse = conn.call(ApiKey::SyncGroup, 5, &sync);
    let ok: OffsetCommitResponse = conn.call(ApiKey::OffsetCommit, 9, &commit(&member, generation));
    assert_eq!(ok.topics[0].partitions[0].error_code, 0);
    let stale: OffsetCommitResponse =
        conn.call(ApiKey::OffsetCommit, 9, &commit(&member, generation + 1));
    assert_eq!(stale.topics[0].partitions[0].error_code, ILLEGAL_GENERATION);
    let stranger: OffsetCommitResponse =
        conn.call(ApiKey::OffsetCommit, 9, &commit("stranger", generation));
    assert_eq!(
        stranger.topics[0].partitions[0].error_code,
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn describe_list_delete_groups_and_offsets() {
    let broker = broker();
    let mut conn = broker.connect();
    create_topic(&mut conn, "t", 1, &[]);
    create_topic(&mut conn, "other", 1, &[]);
    let (member, generation) = join_alone(&mut conn, 9, "active", &["t"]);
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("active")))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_generation_id(generation)
        .with_member_id(s(&member))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::from_static(b"a")),
        ]);
    let _: SyncGroupResponse = conn.call(ApiKey::SyncGroup, 5, &sync);
    let _: OffsetCommitResponse = conn.call(
        ApiKey::OffsetCommit,
        9,
        &commit_request("idle", "t", 0, 5, ""),
    );
    for version in 0..=5 {
        let request = DescribeGroupsRequest::default().with_groups(vec![
            GroupId(s("active")),
            GroupId(s("idle")),
            GroupId(s("ghost")),
        ]);
        let response: DescribeGroupsResponse = conn.call(ApiKey::DescribeGroups, version, &request);
        let active = &response.groups[0];
        assert_eq!(
            (
                &*active.group_state,
                &*active.protocol_type,
                &*active.protocol_data
            ),
            ("Stable", "consumer", "range"),
            "v{version}"
        );
        assert_eq!(active.members.len(), 1);
        assert_eq!(&active.members[0].member_assignment[..], b"a");
        assert_eq!(active.members[0].member_metadata, subscription(&["t"]));
        assert_eq!(&*response.groups[1].group_state, "Empty");
        assert_eq!(&*response.groups[2].group_state, "Dead");
    }
    for version in 0..=4 {
        let response: ListGroupsResponse =
            conn.call(ApiKey::ListGroups, version, &ListGroupsRequest::default());
        let mut ids: Vec<String> = response
            .groups
            .iter()
            .map(|g| g.group_id.0.to_string())
            .collect();
        ids.sort();
        assert_eq!(ids, vec!["active", "idle"], "v{version}");
        if version >= 4 {
            let stable = ListGroupsRequest::default().with_states_filter(vec![s("stable")]);
            let response: ListGroupsResponse = conn.call(ApiKey::ListGroups, version, &stable);
            assert_eq!(response.groups.len(), 1);
            assert_eq!(&*response.groups[0].group_state, "Stable");
        }
    }
    // OffsetDelete refuses offsets of a topic the group consumes, allows others.
    let _: OffsetCommitResponse = conn.call(
        ApiKey::OffsetCommit,
        9,
        &commit_request("active", "other", 0, 3, "")
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(&member)),
    );
    let delete = |topic: &str| {
        OffsetDeleteRequest::default()
            .with_group_id(GroupId(s("active")))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0),
                    ]),
            ])
    };
    let refused: OffsetDeleteResponse = conn.call(ApiKey::OffsetDelete, 0, &delete("t"));
    assert_eq!(
        refused.topics[0].partitions[0].error_code,
        GROUP_SUBSCRIBED_TO_TOPIC
    );
    let deleted: OffsetDeleteResponse = conn.call(ApiKey::OffsetDelete, 0, &delete("other"));
    assert_eq!(
        (
            deleted.error_code,
            deleted.topics[0].partitions[0].error_code
        ),
        (0, 0)
    );
    assert_eq!(fetch_one(&mut conn, 8, "active", "other", 0).1, -1);
    for version in 0..=2 {
        let request = DeleteGroupsRequest::default()
            .with_groups_names(vec![GroupId(s("active")), GroupId(s("ghost"))]);
        let response: DeleteGroupsResponse = conn.call(ApiKey::DeleteGroups, version, &request);
        assert_eq!(
            response.results[0].error_code, NON_EMPTY_GROUP,
            "v{version}"
        );
        assert_eq!(
            response.results[1].error_code, GROUP_ID_NOT_FOUND,
            "v{version}"
        );
    }
    let response: DeleteGroupsResponse = conn.call(
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("idle"))]),
    );
    assert_eq!(response.results[0].error_code, 0);
    assert_eq!(
        fetch_one(&mut conn, 8, "idle", "t", 0).1,
        -1,
        "offsets went with the group"
    );
}
