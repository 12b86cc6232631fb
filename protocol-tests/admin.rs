//! Metadata, topic administration, DescribeConfigs and DescribeCluster across their versions.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::harness::{Conn, TestBroker};
use crate::requests::{create_topic, name};

fn metadata(
    conn: &mut Conn,
    version: i16,
    topics: Option<&[&str]>,
    allow_auto_create: bool,
) -> MetadataResponse {
    let mut request = MetadataRequest::default().with_topics(topics.map(|t| {
        t.iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(name(n))))
            .collect()
    }));
    if version >= 4 {
        request.allow_auto_topic_creation = allow_auto_create;
    }
    conn.call(ApiKey::Metadata, version, &request)
}

#[test]
fn metadata_every_version_describes_brokers_and_topics() {
    let broker = TestBroker::start(&["num.partitions=3"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "known", 2, &[]);
    for version in 0..=12 {
        let response = metadata(&mut conn, version, Some(&["known"]), false);
        assert_eq!(response.brokers.len(), 1, "v{version}");
        assert_eq!(response.brokers[0].port, i32::from(broker.addr.port()));
        assert_eq!(&*response.brokers[0].host, "127.0.0.1");
        let topic = &response.topics[0];
        assert_eq!(
            (topic.error_code, topic.partitions.len()),
            (0, 2),
            "v{version}"
        );
        assert_eq!(topic.partitions[1].partition_index, 1);
        assert_eq!(topic.partitions[0].leader_id.0, 0);
        assert_eq!(topic.partitions[0].isr_nodes.len(), 1);
        if version >= 1 {
            assert_eq!(response.controller_id.0, 0);
        }
        if version >= 2 {
            assert_eq!(response.cluster_id.as_ref().map(|c| c.len()), Some(22));
        }
        if version >= 10 {
            assert!(!topic.topic_id.is_nil());
        }
        // All topics: null list (v1+) or an empty one (v0).
        let all = if version == 0 {
            metadata(&mut conn, 0, Some(&[]), false)
        } else {
            conn.call(
                ApiKey::Metadata,
                version,
                &MetadataRequest::default().with_topics(None),
            )
        };
        assert!(
            all.topics
                .iter()
                .any(|t| t.name.as_ref().map(|n| &*n.0) == Some("known")),
            "v{version}"
        );
    }
}

#[test]
fn metadata_auto_creates_topics_unless_asked_not_to() {
    let broker = TestBroker::start(&["num.partitions=3"]);
    let mut conn = broker.connect();
    let refused = metadata(&mut conn, 9, Some(&["fresh"]), false);
    assert_eq!(
        refused.topics[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    let created = metadata(&mut conn, 9, Some(&["fresh"]), true);
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(created.topics[0].partitions.len(), 3, "num.partitions");
    let v1 = metadata(&mut conn, 1, Some(&["fresh-v1"]), true);
    assert_eq!(v1.topics[0].error_code, 0, "v1 always allows auto-creation");
    let invalid = metadata(&mut conn, 9, Some(&["bad name"]), true);
    assert_eq!(invalid.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION");
    // Topic ids (v12): unknown ids are UNKNOWN_TOPIC_ID.
    let by_id = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_topic_id(uuid::Uuid::new_v4())
            .with_name(None),
    ]));
    let response: MetadataResponse = conn.call(ApiKey::Metadata, 12, &by_id);
    assert_eq!(response.topics[0].error_code, 100);
}

#[test]
fn auto_creation_can_be_disabled_by_the_broker() {
    let broker = TestBroker::start(&["auto.create.topics.enable=false"]);
    let mut conn = broker.connect();
    let response = metadata(&mut conn, 9, Some(&["nope"]), true);
    assert_eq!(response.topics[0].error_code, 3);
}

fn create(
    conn: &mut Conn,
    version: i16,
    topic: CreatableTopic,
    validate_only: bool,
) -> create_topics_response::CreatableTopicResult {
    let mut request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![topic]);
    request.validate_only = validate_only;
    let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, version, &request);
    response.topics.into_iter().next().expect("one result")
}

fn topic(n: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(n))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
}

#[test]
fn create_topics_every_version_with_kafka_errors() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    for version in 2..=7 {
        let t = format!("created-v{version}");
        let ok = create(&mut conn, version, topic(&t, 2, 1), false);
        assert_eq!(ok.error_code, 0, "v{version}: {:?}", ok.error_message);
        if version >= 5 {
            assert_eq!((ok.num_partitions, ok.replication_factor), (2, 1));
            let configs = ok.configs.expect("configs in v5+");
            assert!(
                configs
                    .iter()
                    .any(|c| &*c.name == "retention.ms" && c.value.as_deref() == Some("604800000"))
            );
        }
        if version >= 7 {
            assert!(!ok.topic_id.is_nil());
        }
        assert_eq!(
            create(&mut conn, version, topic(&t, 2, 1), false).error_code,
            36,
            "TOPIC_ALREADY_EXISTS"
        );
        assert_eq!(
            create(&mut conn, version, topic(&format!("{t}-p"), 0, 1), false).error_code,
            37,
            "INVALID_PARTITIONS"
        );
        assert_eq!(
            create(&mut conn, version, topic(&format!("{t}-r"), 1, 3), false).error_code,
            38,
            "INVALID_REPLICATION_FACTOR"
        );
        assert_eq!(
            create(&mut conn, version, topic("a/b", 1, 1), false).error_code,
            17,
            "INVALID_TOPIC_EXCEPTION"
        );
        let bad_config = topic(&format!("{t}-c"), 1, 1).with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("soon"))),
        ]);
        assert_eq!(
            create(&mut conn, version, bad_config, false).error_code,
            40,
            "INVALID_CONFIG"
        );
        let dry = create(&mut conn, version, topic(&format!("{t}-dry"), 4, 1), true);
        assert_eq!(dry.error_code, 0);
        let check = metadata(&mut conn, 9, Some(&[&format!("{t}-dry")]), false);
        assert_eq!(
            check.topics[0].error_code, 3,
            "validate_only created the topic"
        );
    }
    // Defaults (-1) and a duplicate name in one request.
    let defaulted = create(&mut conn, 7, topic("defaults", -1, -1), false);
    assert_eq!(
        (
            defaulted.error_code,
            defaulted.num_partitions,
            defaulted.replication_factor
        ),
        (0, 1, 1)
    );
    let request =
        CreateTopicsRequest::default().with_topics(vec![topic("dup", 1, 1), topic("dup", 1, 1)]);
    let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &request);
    assert!(
        response.topics.iter().all(|t| t.error_code == 42),
        "INVALID_REQUEST for duplicates"
    );
    // '.' and '_' collide.
    create(&mut conn, 7, topic("a.b", 1, 1), false);
    assert_eq!(
        create(&mut conn, 7, topic("a_b", 1, 1), false).error_code,
        17
    );
}

#[test]
fn topic_configs_persist_and_are_described() {
    let mut broker = TestBroker::start(&["log.retention.hours=1"]);
    let mut conn = broker.connect();
    create_topic(
        &mut conn,
        "configured",
        1,
        &[("retention.ms", "12345"), ("cleanup.policy", "delete")],
    );
    drop(conn);
    broker.stop();
    broker.restart();
    let mut conn = broker.connect();
    for version in 1..=4 {
        let request = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_include_documentation(version >= 3)
            .with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("configured")),
                DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(StrBytes::from_static_str("0")),
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("missing")),
            ]);
        let response: DescribeConfigsResponse =
            conn.call(ApiKey::DescribeConfigs, version, &request);
        let topic = &response.results[0];
        assert_eq!(topic.error_code, 0);
        let retention = topic
            .configs
            .iter()
            .find(|c| &*c.name == "retention.ms")
            .expect("retention.ms");
        assert_eq!(
            (retention.value.as_deref(), retention.config_source),
            (Some("12345"), 1),
            "v{version}: topic override"
        );
        let segment = topic
            .configs
            .iter()
            .find(|c| &*c.name == "segment.bytes")
            .expect("segment.bytes");
        assert_eq!(
            (segment.value.as_deref(), segment.config_source),
            (Some("1073741824"), 5),
            "v{version}: default"
        );
        if version >= 3 {
            assert_eq!(segment.config_type, 3, "INT");
            assert!(segment.documentation.is_some());
        }
        let broker_result = &response.results[1];
        assert_eq!(broker_result.error_code, 0);
        let hours = broker_result
            .configs
            .iter()
            .find(|c| &*c.name == "log.retention.hours")
            .expect("log.retention.hours");
        assert_eq!(
            (hours.value.as_deref(), hours.config_source),
            (Some("1"), 4),
            "static broker config"
        );
        assert_eq!(response.results[2].error_code, 3);
    }
    // A topic without override inherits the broker's log.retention.hours, reported as its source.
    create_topic(&mut conn, "inherits", 1, &[]);
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("inherits"))
            .with_configuration_keys(Some(vec![StrBytes::from_static_str("retention.ms")])),
    ]);
    let response: DescribeConfigsResponse = conn.call(ApiKey::DescribeConfigs, 4, &request);
    let configs = &response.results[0].configs;
    assert_eq!(configs.len(), 1);
    assert_eq!(
        (configs[0].value.as_deref(), configs[0].config_source),
        (Some("3600000"), 4)
    );
}

#[test]
fn delete_topics_every_version_frees_the_name() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    for version in 1..=6 {
        let t = format!("doomed-v{version}");
        create_topic(&mut conn, &t, 2, &[]);
        let request = if version >= 6 {
            DeleteTopicsRequest::default()
                .with_topics(vec![DeleteTopicState::default().with_name(Some(name(&t)))])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![name(&t)])
        }
        .with_timeout_ms(5000);
        let response: DeleteTopicsResponse = conn.call(ApiKey::DeleteTopics, version, &request);
        assert_eq!(response.responses[0].error_code, 0, "v{version}");
        assert!(
            !broker.partition_dir(&t, 0).exists(),
            "v{version}: files remain"
        );
        let again: DeleteTopicsResponse = conn.call(ApiKey::DeleteTopics, version, &request);
        assert_eq!(
            again.responses[0].error_code, 3,
            "v{version}: second delete"
        );
        // The name is reusable, starting from offset 0.
        create_topic(&mut conn, &t, 1, &[]);
    }
    let by_id = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default()
            .with_name(None)
            .with_topic_id(uuid::Uuid::new_v4()),
    ]);
    let response: DeleteTopicsResponse = conn.call(ApiKey::DeleteTopics, 6, &by_id);
    assert_eq!(response.responses[0].error_code, 100, "UNKNOWN_TOPIC_ID");
}

#[test]
fn create_partitions_every_version() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "growing", 1, &[]);
    for version in 0..=3 {
        let count = 2 + version as i32;
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(name("growing"))
                    .with_count(count),
            ]);
        let response: CreatePartitionsResponse =
            conn.call(ApiKey::CreatePartitions, version, &request);
        assert_eq!(
            response.results[0].error_code, 0,
            "v{version}: {:?}",
            response.results[0].error_message
        );
        assert!(broker.partition_dir("growing", count - 1).exists());
        let shrink: CreatePartitionsResponse =
            conn.call(ApiKey::CreatePartitions, version, &request);
        assert_eq!(shrink.results[0].error_code, 37, "INVALID_PARTITIONS");
    }
    let missing = CreatePartitionsRequest::default().with_topics(vec![
        CreatePartitionsTopic::default()
            .with_name(name("nope"))
            .with_count(3),
    ]);
    let response: CreatePartitionsResponse = conn.call(ApiKey::CreatePartitions, 3, &missing);
    assert_eq!(response.results[0].error_code, 3);
    let meta = metadata(&mut conn, 9, Some(&["growing"]), false);
    assert_eq!(meta.topics[0].partitions.len(), 5);
}

#[test]
fn describe_cluster_every_version() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    for version in 0..=1 {
        let response: DescribeClusterResponse = conn.call(
            ApiKey::DescribeCluster,
            version,
            &DescribeClusterRequest::default().with_endpoint_type(1),
        );
        assert_eq!(response.error_code, 0);
        assert_eq!(response.cluster_id.len(), 22);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].port, i32::from(broker.addr.port()));
    }
    let controllers: DescribeClusterResponse = conn.call(
        ApiKey::DescribeCluster,
        1,
        &DescribeClusterRequest::default().with_endpoint_type(2),
    );
    assert_eq!(controllers.error_code, 115, "UNSUPPORTED_ENDPOINT_TYPE");
}

#[test]
fn describe_quorum_every_version_shows_a_quorum_of_one() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "quorum-writes", 1, &[]);
    for version in 0..=2 {
        use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
        let request = DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(name("__cluster_metadata"))
                .with_partitions(vec![
                    PartitionData::default().with_partition_index(0),
                    PartitionData::default().with_partition_index(1),
                ]),
        ]);
        let response: DescribeQuorumResponse = conn.call(ApiKey::DescribeQuorum, version, &request);
        assert_eq!(response.error_code, 0, "v{version}");
        let partitions = &response.topics[0].partitions;
        let p = &partitions[0];
        assert_eq!(p.error_code, 0);
        assert_eq!(p.leader_id.0, 0, "the single node leads its quorum");
        assert!(p.leader_epoch >= 1);
        assert!(p.high_watermark >= 1, "the topic creation was committed");
        assert_eq!(p.current_voters.len(), 1);
        assert_eq!(p.current_voters[0].replica_id.0, 0);
        assert_eq!(p.current_voters[0].log_end_offset, p.high_watermark);
        assert_eq!(partitions[1].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    }
}

#[test]
fn elect_leaders_and_unregister_broker_on_a_single_node() {
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "led", 2, &[]);
    for version in 0..=2 {
        let mut request = ElectLeadersRequest::default()
            .with_topic_partitions(Some(vec![
                TopicPartitions::default()
                    .with_topic(name("led"))
                    .with_partitions(vec![0, 1, 7]),
            ]))
            .with_timeout_ms(5_000);
        if version >= 1 {
            request.election_type = 0;
        }
        let response: ElectLeadersResponse = conn.call(ApiKey::ElectLeaders, version, &request);
        let results = &response.replica_election_results[0].partition_result;
        let codes: Vec<(i32, i16)> = results
            .iter()
            .map(|r| (r.partition_id, r.error_code))
            .collect();
        assert_eq!(
            codes,
            vec![(0, 84), (1, 84), (7, 3)],
            "v{version}: ELECTION_NOT_NEEDED, UNKNOWN_TOPIC_OR_PARTITION"
        );
    }
    // Every partition: nothing to do, so nothing listed.
    let all: ElectLeadersResponse = conn.call(
        ApiKey::ElectLeaders,
        2,
        &ElectLeadersRequest::default().with_timeout_ms(5_000),
    );
    assert!(all.replica_election_results.is_empty());
    let unknown: UnregisterBrokerResponse = conn.call(
        ApiKey::UnregisterBroker,
        0,
        &UnregisterBrokerRequest::default().with_broker_id(BrokerId(42)),
    );
    assert_eq!(unknown.error_code, 102, "BROKER_ID_NOT_REGISTERED");
}
