//! Populated sample requests: for every API key the decode guard knows, a request with at least one
//! element in every array (nested ones too), non-null strings and bytes, and known tagged fields set,
//! valid at any version the codec supports. The guard's tests, the wire-level protocol tests and the
//! fuzz targets' seed corpus all start from these.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as m;
use kafka_protocol::protocol::{Encodable, Message, StrBytes};

/// A non-nil id for every uuid field.
const ID: &str = "5f0c6a53-9d4e-4b1a-8c3e-2a7d9e6b1f04";

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn encode<T: Encodable + Message>(build: fn(i16) -> T, version: i16) -> Option<Bytes> {
    if !(T::VERSIONS.min..=T::VERSIONS.max).contains(&version) {
        return None;
    }
    let mut buf = BytesMut::new();
    build(version).encode(&mut buf, version).ok()?;
    Some(buf.freeze())
}

/// The encoded body of the sample request for `api_key` at `version`, if both are known.
pub fn encoded(api_key: i16, version: i16) -> Option<Bytes> {
    match api_key {
        0 => encode(produce, version),
        1 => encode(fetch, version),
        2 => encode(list_offsets, version),
        3 => encode(metadata, version),
        8 => encode(offset_commit, version),
        9 => encode(offset_fetch, version),
        10 => encode(find_coordinator, version),
        11 => encode(join_group, version),
        12 => encode(heartbeat, version),
        13 => encode(leave_group, version),
        14 => encode(sync_group, version),
        15 => encode(describe_groups, version),
        16 => encode(list_groups, version),
        17 => encode(sasl_handshake, version),
        18 => encode(api_versions, version),
        19 => encode(create_topics, version),
        20 => encode(delete_topics, version),
        21 => encode(delete_records, version),
        22 => encode(init_producer_id, version),
        23 => encode(offset_for_leader_epoch, version),
        32 => encode(describe_configs, version),
        33 => encode(alter_configs, version),
        37 => encode(create_partitions, version),
        42 => encode(delete_groups, version),
        44 => encode(incremental_alter_configs, version),
        47 => encode(offset_delete, version),
        43 => encode(elect_leaders, version),
        55 => encode(describe_quorum, version),
        60 => encode(describe_cluster, version),
        64 => encode(unregister_broker, version),
        61 => encode(describe_producers, version),
        _ => None,
    }
}

pub fn produce(_version: i16) -> m::ProduceRequest {
    use m::produce_request::{PartitionProduceData, TopicProduceData};
    m::ProduceRequest::default()
        .with_transactional_id(Some(s("txn").into()))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(s("orders").into())
                .with_topic_id(ID.parse().unwrap())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(3)
                        .with_records(Some(Bytes::from_static(b"record batch"))),
                ]),
        ])
}

pub fn fetch(version: i16) -> m::FetchRequest {
    use m::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic, ReplicaState};
    let mut partition = FetchPartition::default()
        .with_partition(1)
        .with_current_leader_epoch(5)
        .with_fetch_offset(100)
        .with_log_start_offset(7)
        .with_partition_max_bytes(1 << 20)
        .with_replica_directory_id(ID.parse().unwrap())
        .with_high_watermark(500);
    if version >= 12 {
        partition = partition.with_last_fetched_epoch(4);
    }
    let mut request = m::FetchRequest::default()
        .with_cluster_id(Some(s("cluster")))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 24)
        .with_isolation_level(1)
        .with_session_id(9)
        .with_session_epoch(2)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(s("orders").into())
                .with_topic_id(ID.parse().unwrap())
                .with_partitions(vec![partition]),
        ])
        .with_rack_id(s("rack-a"));
    if version <= 14 {
        request = request.with_replica_id(m::BrokerId(2));
    } else {
        request = request.with_replica_state(
            ReplicaState::default()
                .with_replica_id(m::BrokerId(2))
                .with_replica_epoch(11),
        );
    }
    if version >= 7 {
        request = request.with_forgotten_topics_data(vec![
            ForgottenTopic::default()
                .with_topic(s("gone").into())
                .with_topic_id(ID.parse().unwrap())
                .with_partitions(vec![0, 1]),
        ]);
    }
    request
}

pub fn list_offsets(version: i16) -> m::ListOffsetsRequest {
    use m::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let request = m::ListOffsetsRequest::default()
        .with_replica_id(m::BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(s("orders").into())
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_current_leader_epoch(3)
                        .with_timestamp(-2),
                ]),
        ])
        .with_timeout_ms(1_000);
    if version >= 2 {
        request.with_isolation_level(1)
    } else {
        request
    }
}

pub fn metadata(version: i16) -> m::MetadataRequest {
    use m::metadata_request::MetadataRequestTopic;
    let mut request = m::MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_topic_id(ID.parse().unwrap())
            .with_name(Some(s("orders").into())),
    ]));
    if version >= 4 {
        request = request.with_allow_auto_topic_creation(false);
    }
    if (8..=10).contains(&version) {
        request = request.with_include_cluster_authorized_operations(true);
    }
    if version >= 8 {
        request = request.with_include_topic_authorized_operations(true);
    }
    request
}

pub fn offset_commit(version: i16) -> m::OffsetCommitRequest {
    use m::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let request = m::OffsetCommitRequest::default()
        .with_group_id(s("group").into())
        .with_generation_id_or_member_epoch(3)
        .with_member_id(s("member"))
        .with_retention_time_ms(60_000)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(s("orders").into())
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(42)
                        .with_committed_leader_epoch(2)
                        .with_committed_metadata(Some(s("meta"))),
                ]),
        ]);
    if version >= 7 {
        request.with_group_instance_id(Some(s("instance")))
    } else {
        request
    }
}

pub fn offset_fetch(version: i16) -> m::OffsetFetchRequest {
    use m::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    let mut request = m::OffsetFetchRequest::default();
    if version <= 7 {
        request = request
            .with_group_id(s("group").into())
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(s("orders").into())
                    .with_partition_indexes(vec![0, 1]),
            ]));
    } else {
        request = request.with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(s("group").into())
                .with_member_id(Some(s("member")))
                .with_member_epoch(4)
                .with_topics(Some(vec![
                    OffsetFetchRequestTopics::default()
                        .with_name(s("orders").into())
                        .with_partition_indexes(vec![2]),
                ])),
        ]);
    }
    if version >= 7 {
        request = request.with_require_stable(true);
    }
    request
}

pub fn find_coordinator(version: i16) -> m::FindCoordinatorRequest {
    let mut request = m::FindCoordinatorRequest::default();
    if version <= 3 {
        request = request.with_key(s("group"));
    }
    if version >= 1 {
        request = request.with_key_type(1);
    }
    if version >= 4 {
        request = request.with_coordinator_keys(vec![s("group-a"), s("group-b")]);
    }
    request
}

pub fn join_group(version: i16) -> m::JoinGroupRequest {
    use m::join_group_request::JoinGroupRequestProtocol;
    let request = m::JoinGroupRequest::default()
        .with_group_id(s("group").into())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s("member"))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ])
        .with_reason(Some(s("rejoin")));
    if version >= 5 {
        request.with_group_instance_id(Some(s("instance")))
    } else {
        request
    }
}

pub fn heartbeat(version: i16) -> m::HeartbeatRequest {
    let request = m::HeartbeatRequest::default()
        .with_group_id(s("group").into())
        .with_generation_id(3)
        .with_member_id(s("member"));
    if version >= 3 {
        request.with_group_instance_id(Some(s("instance")))
    } else {
        request
    }
}

pub fn leave_group(version: i16) -> m::LeaveGroupRequest {
    use m::leave_group_request::MemberIdentity;
    let request = m::LeaveGroupRequest::default().with_group_id(s("group").into());
    if version <= 2 {
        request.with_member_id(s("member"))
    } else {
        request.with_members(vec![
            MemberIdentity::default()
                .with_member_id(s("member"))
                .with_group_instance_id(Some(s("instance")))
                .with_reason(Some(s("shutdown"))),
        ])
    }
}

pub fn sync_group(version: i16) -> m::SyncGroupRequest {
    use m::sync_group_request::SyncGroupRequestAssignment;
    let request = m::SyncGroupRequest::default()
        .with_group_id(s("group").into())
        .with_generation_id(3)
        .with_member_id(s("member"))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(s("member"))
                .with_assignment(Bytes::from_static(b"assignment")),
        ]);
    if version >= 3 {
        request.with_group_instance_id(Some(s("instance")))
    } else {
        request
    }
}

pub fn describe_groups(version: i16) -> m::DescribeGroupsRequest {
    let request =
        m::DescribeGroupsRequest::default().with_groups(vec![s("group").into(), s("other").into()]);
    if version >= 3 {
        request.with_include_authorized_operations(true)
    } else {
        request
    }
}

pub fn list_groups(version: i16) -> m::ListGroupsRequest {
    let mut request = m::ListGroupsRequest::default();
    if version >= 4 {
        request = request.with_states_filter(vec![s("Stable")]);
    }
    if version >= 5 {
        request = request.with_types_filter(vec![s("classic")]);
    }
    request
}

pub fn sasl_handshake(_version: i16) -> m::SaslHandshakeRequest {
    m::SaslHandshakeRequest::default().with_mechanism(s("PLAIN"))
}

pub fn api_versions(_version: i16) -> m::ApiVersionsRequest {
    m::ApiVersionsRequest::default()
        .with_client_software_name(s("kafe-test"))
        .with_client_software_version(s("1.0"))
}

pub fn create_topics(_version: i16) -> m::CreateTopicsRequest {
    use m::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
    };
    m::CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(s("orders").into())
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![
                    CreatableReplicaAssignment::default()
                        .with_partition_index(0)
                        .with_broker_ids(vec![m::BrokerId(1), m::BrokerId(2)]),
                ])
                .with_configs(vec![
                    CreatableTopicConfig::default()
                        .with_name(s("cleanup.policy"))
                        .with_value(Some(s("compact"))),
                ]),
        ])
        .with_timeout_ms(5_000)
        .with_validate_only(true)
}

pub fn delete_topics(version: i16) -> m::DeleteTopicsRequest {
    use m::delete_topics_request::DeleteTopicState;
    let request = m::DeleteTopicsRequest::default().with_timeout_ms(5_000);
    if version >= 6 {
        request.with_topics(vec![
            DeleteTopicState::default()
                .with_name(Some(s("orders").into()))
                .with_topic_id(ID.parse().unwrap()),
        ])
    } else {
        request.with_topic_names(vec![s("orders").into(), s("events").into()])
    }
}

pub fn delete_records(_version: i16) -> m::DeleteRecordsRequest {
    use m::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    m::DeleteRecordsRequest::default()
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(s("orders").into())
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(10),
                ]),
        ])
        .with_timeout_ms(5_000)
}

pub fn init_producer_id(version: i16) -> m::InitProducerIdRequest {
    let request = m::InitProducerIdRequest::default()
        .with_transactional_id(Some(s("txn").into()))
        .with_transaction_timeout_ms(60_000);
    if version >= 3 {
        request
            .with_producer_id(m::ProducerId(9))
            .with_producer_epoch(1)
    } else {
        request
    }
}

pub fn offset_for_leader_epoch(_version: i16) -> m::OffsetForLeaderEpochRequest {
    use m::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    m::OffsetForLeaderEpochRequest::default()
        .with_replica_id(m::BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(s("orders").into())
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(3)
                        .with_leader_epoch(2),
                ]),
        ])
}

pub fn describe_configs(version: i16) -> m::DescribeConfigsRequest {
    use m::describe_configs_request::DescribeConfigsResource;
    let request = m::DescribeConfigsRequest::default()
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders"))
                .with_configuration_keys(Some(vec![s("retention.ms")])),
        ])
        .with_include_synonyms(true);
    if version >= 3 {
        request.with_include_documentation(true)
    } else {
        request
    }
}

pub fn alter_configs(_version: i16) -> m::AlterConfigsRequest {
    use m::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    m::AlterConfigsRequest::default()
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1000"))),
                ]),
        ])
        .with_validate_only(true)
}

pub fn create_partitions(_version: i16) -> m::CreatePartitionsRequest {
    use m::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    m::CreatePartitionsRequest::default()
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(s("orders").into())
                .with_count(3)
                .with_assignments(Some(vec![
                    CreatePartitionsAssignment::default().with_broker_ids(vec![m::BrokerId(1)]),
                ])),
        ])
        .with_timeout_ms(5_000)
        .with_validate_only(true)
}

pub fn delete_groups(_version: i16) -> m::DeleteGroupsRequest {
    m::DeleteGroupsRequest::default().with_groups_names(vec![s("group").into()])
}

pub fn incremental_alter_configs(_version: i16) -> m::IncrementalAlterConfigsRequest {
    use m::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    m::IncrementalAlterConfigsRequest::default()
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("orders"))
                .with_configs(vec![
                    AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(1)
                        .with_value(Some(s("1000"))),
                ]),
        ])
        .with_validate_only(true)
}

pub fn offset_delete(_version: i16) -> m::OffsetDeleteRequest {
    use m::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    m::OffsetDeleteRequest::default()
        .with_group_id(s("group").into())
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(s("orders").into())
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ])
}

pub fn elect_leaders(version: i16) -> m::ElectLeadersRequest {
    use m::elect_leaders_request::TopicPartitions;
    let mut request = m::ElectLeadersRequest::default()
        .with_topic_partitions(Some(vec![
            TopicPartitions::default()
                .with_topic(s("orders").into())
                .with_partitions(vec![0, 1]),
        ]))
        .with_timeout_ms(30_000);
    if version >= 1 {
        request = request.with_election_type(0);
    }
    request
}

pub fn describe_quorum(_version: i16) -> m::DescribeQuorumRequest {
    use m::describe_quorum_request::{PartitionData, TopicData};
    m::DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(s("__cluster_metadata").into())
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ])
}

pub fn unregister_broker(_version: i16) -> m::UnregisterBrokerRequest {
    m::UnregisterBrokerRequest::default().with_broker_id(m::BrokerId(3))
}

pub fn describe_cluster(version: i16) -> m::DescribeClusterRequest {
    let mut request =
        m::DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    if version >= 1 {
        request = request.with_endpoint_type(2);
    }
    if version >= 2 {
        request = request.with_include_fenced_brokers(true);
    }
    request
}

pub fn describe_producers(_version: i16) -> m::DescribeProducersRequest {
    use m::describe_producers_request::TopicRequest;
    m::DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(s("orders").into())
            .with_partition_indexes(vec![0, 1]),
    ])
}
