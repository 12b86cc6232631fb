//! The controller dying, brokers fenced and returning, controlled shutdown, and a minority that
//! cannot change anything.

use std::time::{Duration, Instant};

use crate::cluster::{FAST, TestCluster, wait_until};

fn leader_of(cluster: &TestCluster, via: usize, topic: &str, partition: i32) -> i32 {
    let m = cluster.metadata(via);
    m.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
        .and_then(|t| t.partitions.iter().find(|p| p.partition_index == partition))
        .map_or(-2, |p| p.leader_id.0)
}

#[test]
fn killing_the_active_controller_yields_a_new_one_and_changes_go_on() {
    let mut cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    assert_eq!(cluster.create_topic(0, "before", 3, 3), 0);
    let old = cluster.quorum_leader().expect("a quorum leader");
    let survivor = (old + 1) % 3;
    let killed_at = Instant::now();
    cluster.kill9(old);
    // Topic creation works again through a surviving broker once a new leader is elected.
    let took = wait_until(
        Duration::from_secs(15),
        "a topic created after the kill",
        || cluster.create_topic(survivor, "after", 1, 2) == 0,
    );
    let new = cluster.quorum_leader().expect("a new quorum leader");
    assert_ne!(new, old);
    assert!(
        took < Duration::from_secs(10),
        "changes resumed {took:?} after the controller died"
    );
    // After the session timeout the dead broker is fenced: not shown, leading nothing.
    let dead = cluster.node(old).id;
    wait_until(Duration::from_secs(10), "the dead broker fenced", || {
        let m = cluster.metadata(survivor);
        m.brokers.len() == 2
            && (0..3).all(|p| {
                let l = leader_of(&cluster, survivor, "before", p);
                l != dead && l >= 0
            })
    });
    assert!(killed_at.elapsed() < Duration::from_secs(20));
    let m = cluster.metadata(survivor);
    let before = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "before"))
        .unwrap();
    for p in &before.partitions {
        assert_eq!(
            p.offline_replicas.iter().map(|b| b.0).collect::<Vec<_>>(),
            vec![dead]
        );
        assert!(!p.isr_nodes.iter().any(|b| b.0 == dead), "{p:?}");
    }
    // It comes back, registers anew and is shown again.
    cluster.restart(old);
    wait_until(Duration::from_secs(10), "three brokers again", || {
        cluster.metadata(survivor).brokers.len() == 3
    });
}

#[test]
fn a_sigtermed_broker_hands_its_leaderships_over_before_it_stops() {
    let mut cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    assert_eq!(cluster.create_topic(0, "handover", 6, 3), 0);
    let leaving = 1;
    let id = cluster.node(leaving).id;
    let led: Vec<i32> = (0..6)
        .filter(|p| leader_of(&cluster, 0, "handover", *p) == id)
        .collect();
    assert!(!led.is_empty());
    cluster.stop(leaving);
    let log = cluster.node(leaving).log();
    assert!(
        log.contains("the controller moved this broker's leaderships away"),
        "{log}"
    );
    // Right after it stopped, no partition names it leader: nothing waited for a fence.
    for p in 0..6 {
        let leader = leader_of(&cluster, 0, "handover", p);
        assert!(leader != id && leader > 0, "partition {p} led by {leader}");
    }
}

#[test]
fn a_minority_cannot_change_metadata() {
    let mut cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    assert_eq!(cluster.create_topic(0, "majority", 1, 1), 0);
    let leader = cluster.quorum_leader().expect("leader");
    let alone = (leader + 1) % 3;
    for i in 0..3 {
        if i != alone {
            cluster.kill9(i);
        }
    }
    let code = cluster.create_topic(alone, "minority", 1, 1);
    assert_eq!(code, 41, "NOT_CONTROLLER without a majority");
    // The majority returns: the cluster goes on, and the refused topic never existed.
    for i in 0..3 {
        if i != alone {
            cluster.spawn(i);
        }
    }
    for i in 0..3 {
        cluster.wait_serving(i);
    }
    assert_eq!(cluster.create_topic(alone, "afterwards", 1, 1), 0);
    let names: Vec<String> = cluster
        .metadata(alone)
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    assert!(names.contains(&"majority".to_string()));
    assert!(!names.contains(&"minority".to_string()), "{names:?}");
}

#[test]
fn describe_quorum_names_the_real_leader_from_any_node_and_brokers_can_be_unregistered() {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kafka_protocol::messages::{
        ApiKey, BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, UnregisterBrokerRequest,
        UnregisterBrokerResponse,
    };
    let mut cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    assert_eq!(cluster.create_topic(0, "quorum", 1, 3), 0);
    let leader = cluster.quorum_leader().expect("leader");
    let leader_id = cluster.node(leader).id;
    let request = DescribeQuorumRequest::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(kafka_protocol::messages::TopicName(
                kafka_protocol::protocol::StrBytes::from_static_str("__cluster_metadata"),
            ))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
    ]);
    for i in 0..3 {
        let response: DescribeQuorumResponse = crate::harness::Conn::connect(
            cluster.node(i).addr(),
        )
        .call(ApiKey::DescribeQuorum, 2, &request);
        assert_eq!(response.error_code, 0);
        let p = &response.topics[0].partitions[0];
        assert_eq!(
            p.leader_id.0,
            leader_id,
            "asked node {}",
            cluster.node(i).id
        );
        assert_eq!(p.current_voters.len(), 3);
        assert!(p.high_watermark > 0);
        let leader_state = p
            .current_voters
            .iter()
            .find(|v| v.replica_id.0 == leader_id)
            .expect("the leader is a voter");
        assert!(leader_state.log_end_offset >= p.high_watermark);
        assert_eq!(response.nodes.len(), 3, "v2 names every voter's endpoint");
    }

    // Decommissioning: a stopped broker is unregistered and shown no more.
    let gone = (leader + 1) % 3;
    let gone_id = cluster.node(gone).id;
    cluster.stop(gone);
    let via = (leader + 2) % 3;
    let response: UnregisterBrokerResponse =
        crate::harness::Conn::connect(cluster.node(via).addr()).call(
            ApiKey::UnregisterBroker,
            0,
            &UnregisterBrokerRequest::default().with_broker_id(BrokerId(gone_id)),
        );
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    let again: UnregisterBrokerResponse = crate::harness::Conn::connect(cluster.node(via).addr())
        .call(
            ApiKey::UnregisterBroker,
            0,
            &UnregisterBrokerRequest::default().with_broker_id(BrokerId(gone_id)),
        );
    assert_eq!(again.error_code, 102, "BROKER_ID_NOT_REGISTERED");
    let m = cluster.metadata(via);
    assert_eq!(m.brokers.len(), 2);
    let p = &m.topics[0].partitions[0];
    assert_eq!(
        p.offline_replicas.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![gone_id],
        "its replicas stay assigned until reassigned"
    );
    // Started again, it registers anew.
    cluster.restart(gone);
    wait_until(Duration::from_secs(10), "three brokers again", || {
        cluster.metadata(via).brokers.len() == 3
    });
}
