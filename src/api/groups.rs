//! The consumer group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! DescribeGroups, ListGroups and DeleteGroups. Translation between the wire and the group
//! coordinator; the protocol itself lives in [`crate::group`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tracing::warn;

use super::{Context, now_ms};
use crate::cluster::controller::NewTopic;
use crate::config::keys;
use crate::group::state::JoinRequest;
use crate::group::store::OFFSETS_TOPIC;
use crate::protocol::header::RequestHeader;

fn s(text: String) -> StrBytes {
    StrBytes::from_string(text)
}

/// Creates `__consumer_offsets` on first use, as Kafka does.
pub async fn ensure_offsets_topic(ctx: &Arc<Context>) -> Result<(), i16> {
    if ctx.replicas.image().topic(OFFSETS_TOPIC).is_some() {
        return Ok(());
    }
    let configs: BTreeMap<String, String> = [
        (keys::CLEANUP_POLICY.name, "compact".to_string()),
        (
            keys::SEGMENT_BYTES.name,
            ctx.config.offsets_topic_segment_bytes.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let topic = NewTopic {
        name: OFFSETS_TOPIC.to_string(),
        partitions: ctx.config.offsets_topic_num_partitions,
        // Too few live brokers: INVALID_REPLICATION_FACTOR, answered as COORDINATOR_NOT_AVAILABLE
        // until enough have registered.
        replication_factor: ctx.config.offsets_topic_replication_factor,
        assignments: None,
        configs,
    };
    match ctx.controller.create_topic_if_missing(topic).await {
        Ok(_) => Ok(()),
        Err(e) => {
            warn!(code = e.code, message = %e.message, "could not create {OFFSETS_TOPIC}");
            Err(E::CoordinatorNotAvailable.code())
        }
    }
}

pub async fn find_coordinator(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = header.api_version;
    let keys: Vec<String> = if version >= 4 {
        request
            .coordinator_keys
            .iter()
            .map(|k| k.to_string())
            .collect()
    } else {
        vec![request.key.to_string()]
    };
    let ready = if request.key_type == 0 {
        ensure_offsets_topic(ctx).await
    } else {
        Err(E::CoordinatorNotAvailable.code())
    };
    let image = ctx.replicas.image();
    let answers: Vec<Coordinator> = keys
        .into_iter()
        .map(|key| {
            let coordinator = Coordinator::default()
                .with_key(s(key.clone()))
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::new())
                .with_port(-1);
            let located = ready.and_then(|()| {
                if key.is_empty() {
                    return Err(E::InvalidRequest.code());
                }
                let partition = ctx.groups.partition_of(&key);
                let leader = image
                    .partition(OFFSETS_TOPIC, partition)
                    .map(|p| p.leader)
                    .ok_or(E::CoordinatorNotAvailable.code())?;
                image
                    .brokers
                    .get(&leader)
                    .filter(|b| !b.fenced)
                    .cloned()
                    .ok_or(E::CoordinatorNotAvailable.code())
            });
            match located {
                Ok(broker) => coordinator
                    .with_node_id(BrokerId(broker.id))
                    .with_host(s(broker.host))
                    .with_port(i32::from(broker.port)),
                Err(code) => coordinator.with_error_code(code).with_error_message(Some(
                    StrBytes::from_static_str("The coordinator is not available."),
                )),
            }
        })
        .collect();
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(answers);
    }
    let first = answers.into_iter().next().unwrap_or_default();
    let mut response = FindCoordinatorResponse::default()
        .with_error_code(first.error_code)
        .with_node_id(first.node_id)
        .with_host(first.host)
        .with_port(first.port);
    if version >= 1 && first.error_code != 0 {
        response.error_message = first.error_message;
    }
    response
}

pub async fn join_group(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    peer: SocketAddr,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = header.api_version;
    let join = JoinRequest {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|i| i.to_string()),
        client_id: header.client_id.clone().unwrap_or_default(),
        client_host: format!("/{}", peer.ip()),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    // Clients look for the coordinator first, which creates `__consumer_offsets`; a client that
    // joins straight away gets the same.
    let result = match ensure_offsets_topic(ctx).await {
        Ok(()) => ctx.groups.join(&request.group_id.0, join, now_ms()).await,
        Err(code) => crate::group::state::JoinResult::error(code, &request.member_id),
    };
    let mut response = JoinGroupResponse::default()
        .with_error_code(result.error_code)
        .with_generation_id(result.generation_id)
        .with_leader(s(result.leader))
        .with_member_id(s(result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    let mut member = JoinGroupResponseMember::default()
                        .with_member_id(s(id))
                        .with_metadata(metadata);
                    if version >= 5 {
                        member.group_instance_id = instance.map(s);
                    }
                    member
                })
                .collect(),
        );
    if version >= 7 {
        response.protocol_type = result.protocol_type.map(s);
        response.protocol_name = result.protocol_name.map(s);
    } else {
        response.protocol_name = Some(s(result.protocol_name.unwrap_or_default()));
    }
    if version >= 9 {
        response.skip_assignment = result.skip_assignment;
    }
    response
}

pub async fn sync_group(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let version = header.api_version;
    let assignments: Vec<(String, Bytes)> = request
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    if version >= 5 && (request.protocol_type.is_none() || request.protocol_name.is_none()) {
        return SyncGroupResponse::default().with_error_code(E::InconsistentGroupProtocol.code());
    }
    let protocol = if version >= 5 {
        (
            request.protocol_type.as_deref(),
            request.protocol_name.as_deref(),
        )
    } else {
        (None, None)
    };
    let result = ctx
        .groups
        .sync(
            &request.group_id.0,
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation_id,
            protocol,
            assignments,
            now_ms(),
        )
        .await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(result.error_code)
        .with_assignment(result.assignment);
    if version >= 5 {
        response.protocol_type = result.protocol_type.map(s);
        response.protocol_name = result.protocol_name.map(s);
    }
    response
}

pub async fn heartbeat(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    let code = ctx.groups.heartbeat(
        &request.group_id.0,
        &request.member_id,
        request.group_instance_id.as_deref(),
        request.generation_id,
        now_ms(),
    );
    HeartbeatResponse::default().with_error_code(code)
}

pub async fn leave_group(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let version = header.api_version;
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    match ctx.groups.leave(&request.group_id.0, &members, now_ms()) {
        Err(code) => LeaveGroupResponse::default().with_error_code(code),
        Ok(codes) if version >= 3 => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .zip(codes)
                .map(|((id, instance), code)| {
                    MemberResponse::default()
                        .with_member_id(s(id))
                        .with_group_instance_id(instance.map(s))
                        .with_error_code(code)
                })
                .collect(),
        ),
        Ok(codes) => {
            LeaveGroupResponse::default().with_error_code(codes.first().copied().unwrap_or(0))
        }
    }
}

pub async fn describe_groups(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = header.api_version;
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let described = DescribedGroup::default().with_group_id(id.clone());
            match ctx.groups.describe(&id.0) {
                Err(code) => described
                    .with_error_code(code)
                    .with_group_state(StrBytes::from_static_str("Dead")),
                Ok(group) => described
                    .with_group_state(StrBytes::from_static_str(group.state))
                    .with_protocol_type(s(group.protocol_type))
                    .with_protocol_data(s(group.protocol_name))
                    .with_members(
                        group
                            .members
                            .into_iter()
                            .map(
                                |(member_id, instance, client_id, host, metadata, assignment)| {
                                    let mut member = DescribedGroupMember::default()
                                        .with_member_id(s(member_id))
                                        .with_client_id(s(client_id))
                                        .with_client_host(s(host))
                                        .with_member_metadata(metadata)
                                        .with_member_assignment(assignment);
                                    if version >= 4 {
                                        member.group_instance_id = instance.map(s);
                                    }
                                    member
                                },
                            )
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub async fn list_groups(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let filter: Vec<String> = if header.api_version >= 4 {
        request
            .states_filter
            .iter()
            .map(|f| f.to_lowercase())
            .collect()
    } else {
        Vec::new()
    };
    let groups = ctx
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| filter.is_empty() || filter.contains(&state.to_lowercase()))
        .map(|(id, protocol_type, state)| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(s(id)))
                .with_protocol_type(s(protocol_type));
            if header.api_version >= 4 {
                listed.group_state = StrBytes::from_static_str(state);
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub async fn delete_groups(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in &request.groups_names {
        let code = ctx.groups.delete_group(&id.0, now_ms()).await;
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
