//! Forming a cluster, agreeing on its picture, keeping it across a full restart, and refusing
//! nodes that contradict it.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_protocol::messages::MetadataResponse;

use crate::cluster::{FAST, TestCluster, meta_properties, wait_until};

/// What every broker must agree on: brokers, topics, leaders, replicas, ISR, epochs.
fn picture(m: &MetadataResponse) -> String {
    let mut brokers: Vec<String> = m
        .brokers
        .iter()
        .map(|b| format!("{}@{}:{}", b.node_id.0, b.host, b.port))
        .collect();
    brokers.sort();
    let mut topics: Vec<String> = m
        .topics
        .iter()
        .map(|t| {
            let mut partitions: Vec<String> = t
                .partitions
                .iter()
                .map(|p| {
                    format!(
                        "{}:leader={} epoch={} replicas={:?} isr={:?} offline={:?} error={}",
                        p.partition_index,
                        p.leader_id.0,
                        p.leader_epoch,
                        p.replica_nodes,
                        p.isr_nodes,
                        p.offline_replicas,
                        p.error_code
                    )
                })
                .collect();
            partitions.sort();
            format!(
                "{}[{}] {}",
                t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                t.topic_id,
                partitions.join(", ")
            )
        })
        .collect();
    topics.sort();
    format!(
        "cluster={:?}\nbrokers={brokers:?}\ntopics={topics:#?}",
        m.cluster_id
    )
}

/// Topics with their ids and replica lists: what a restart must keep (leaders may move).
fn assignments(m: &MetadataResponse) -> Vec<(String, uuid::Uuid, Vec<Vec<i32>>)> {
    let mut out: Vec<_> = m
        .topics
        .iter()
        .map(|t| {
            let mut partitions: Vec<_> = t.partitions.iter().collect();
            partitions.sort_by_key(|p| p.partition_index);
            (
                t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                t.topic_id,
                partitions
                    .iter()
                    .map(|p| p.replica_nodes.iter().map(|b| b.0).collect())
                    .collect(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn three_nodes_form_one_cluster_from_any_start_order_and_agree_on_its_picture() {
    // The highest id first, the lowest (which forms the quorum) last and late.
    let mut cluster = TestCluster::new(3, FAST);
    cluster.spawn(2);
    cluster.spawn(1);
    std::thread::sleep(Duration::from_millis(1500));
    cluster.spawn(0);
    for i in [2, 1, 0] {
        cluster.wait_serving(i);
    }
    let ids: BTreeSet<String> = (0..3)
        .map(|i| meta_properties(&cluster.node(i).data_dir())["cluster.id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "one cluster id on every node: {ids:?}");
    let cluster_id = ids.into_iter().next().unwrap();
    assert_eq!(cluster_id.len(), 22);

    // A topic created through a broker that is not the controller is forwarded to it.
    let leader = cluster.quorum_leader().expect("a quorum leader");
    let other = (leader + 1) % 3;
    assert_eq!(cluster.create_topic(other, "orders", 6, 3), 0);
    assert_eq!(cluster.create_topic(leader, "audit", 2, 2), 0);
    // Replication factor beyond the live brokers is refused, as by Kafka.
    assert_eq!(cluster.create_topic(other, "too-wide", 1, 4), 38);

    wait_until(
        Duration::from_secs(10),
        "every broker to show both topics",
        || (0..3).all(|i| cluster.metadata(i).topics.len() == 2),
    );
    let pictures: Vec<String> = (0..3).map(|i| picture(&cluster.metadata(i))).collect();
    assert_eq!(pictures[0], pictures[1]);
    assert_eq!(pictures[1], pictures[2]);
    let metadata = cluster.metadata(0);
    assert_eq!(metadata.brokers.len(), 3);
    assert_eq!(
        metadata.cluster_id.as_ref().map(|c| c.to_string()),
        Some(cluster_id)
    );
    let orders = metadata
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "orders"))
        .expect("orders");
    let mut led = [0; 4];
    for p in &orders.partitions {
        let replicas: BTreeSet<i32> = p.replica_nodes.iter().map(|b| b.0).collect();
        assert_eq!(replicas.len(), 3, "three distinct replicas: {p:?}");
        assert_eq!(
            p.leader_id.0, p.replica_nodes[0].0,
            "the first replica leads"
        );
        led[p.leader_id.0 as usize] += 1;
    }
    assert_eq!(&led[1..], &[2, 2, 2], "leaders spread evenly");
    // The controller id shown is a live broker.
    assert!(
        metadata
            .brokers
            .iter()
            .any(|b| b.node_id == metadata.controller_id)
    );
}

#[test]
fn a_full_stop_and_restart_keeps_topics_and_assignments() {
    let mut cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    assert_eq!(cluster.create_topic(1, "kept", 4, 2), 0);
    assert_eq!(cluster.create_topic(2, "also-kept", 1, 3), 0);
    let before = assignments(&cluster.metadata(0));
    assert_eq!(before.len(), 2);
    for i in [2, 0, 1] {
        cluster.stop(i);
    }
    for i in [1, 2, 0] {
        cluster.spawn(i);
    }
    for i in 0..3 {
        cluster.wait_serving(i);
    }
    wait_until(Duration::from_secs(10), "all brokers back", || {
        cluster.metadata(0).brokers.len() == 3
    });
    let after = assignments(&cluster.metadata(2));
    assert_eq!(after, before);
}

#[test]
fn nodes_that_contradict_the_cluster_refuse_to_start() {
    let mut cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    // A controller whose node id is not among the voters.
    cluster.stop(2);
    let log = cluster.start_expecting_refusal(2, &["node.id=9"]);
    assert!(
        log.contains("controller.quorum.voters") || log.contains("node 9"),
        "the refusal says why:\n{log}"
    );
    // Node 3's data started as node 2.
    let log = cluster.start_expecting_refusal(2, &["node.id=2"]);
    assert!(log.contains("belongs to node 3"), "{log}");
    // Another cluster's data directory.
    let mut stranger = TestCluster::start(3, FAST, &[0, 1, 2]);
    for i in 0..3 {
        stranger.stop(i);
    }
    let theirs = stranger.node(2).data_dir();
    let log = cluster.start_expecting_refusal(2, &[&format!("log.dirs={}", theirs.display())]);
    assert!(
        log.contains("this node's data belongs to cluster")
            || (log.contains("the controller did not admit this broker")
                && log.contains("belongs to cluster")),
        "{log}"
    );
    // Its own configuration still starts.
    cluster.restart(2);
}

#[test]
fn a_voter_whose_disk_was_replaced_rejoins_and_catches_up() {
    let mut cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    assert_eq!(cluster.create_topic(0, "remembered", 2, 3), 0);
    cluster.kill9(2);
    std::fs::remove_dir_all(cluster.node(2).data_dir()).expect("wipe the disk");
    cluster.restart(2);
    let topics = cluster.metadata(2).topics;
    assert_eq!(topics.len(), 1, "the new disk has the metadata again");
    // The quorum still works, with the replaced voter in it.
    cluster.kill9(0);
    wait_until(Duration::from_secs(15), "a change without node 1", || {
        cluster.create_topic(1, "after-replacement", 1, 1) == 0
    });
}

#[test]
fn a_controller_only_node_votes_and_leads_without_being_a_broker() {
    let mut cluster = TestCluster::new(3, FAST);
    cluster.nodes[2].controller_only = true;
    for i in [2, 1, 0] {
        cluster.spawn(i);
    }
    for i in [2, 1, 0] {
        cluster.wait_serving(i);
    }
    let m = cluster.metadata(0);
    assert_eq!(
        m.brokers.iter().map(|b| b.node_id.0).collect::<Vec<_>>(),
        vec![1, 2],
        "a controller is not a broker"
    );
    assert_eq!(cluster.create_topic(0, "on-brokers", 2, 2), 0);
    // Kill brokers that lead the quorum until the controller-only node leads it.
    for _ in 0..10 {
        let leader = cluster.quorum_leader().expect("a leader");
        if leader == 2 {
            break;
        }
        cluster.kill9(leader);
        wait_until(Duration::from_secs(10), "a new quorum leader", || {
            cluster.quorum_leader().is_some_and(|l| l != leader)
        });
        cluster.restart(leader);
    }
    assert_eq!(
        cluster.quorum_leader(),
        Some(2),
        "the controller-only node leads"
    );
    // Changes through either broker are forwarded to it.
    assert_eq!(cluster.create_topic(0, "via-one", 1, 2), 0);
    assert_eq!(cluster.create_topic(1, "via-two", 1, 1), 0);
    wait_until(
        Duration::from_secs(10),
        "both brokers to show three topics",
        || (0..2).all(|i| cluster.metadata(i).topics.len() == 3),
    );
}

#[test]
fn a_broker_only_node_joins_as_a_learner_and_catches_up_after_a_crash() {
    let mut cluster = TestCluster::new(4, FAST);
    cluster.make_broker_only(3);
    for i in [3, 0, 1, 2] {
        cluster.spawn(i);
    }
    for i in 0..4 {
        cluster.wait_serving(i);
    }
    wait_until(Duration::from_secs(10), "four brokers", || {
        cluster.metadata(3).brokers.len() == 4
    });
    // Through the broker-only node, forwarded to the controller.
    assert_eq!(cluster.create_topic(3, "everywhere", 4, 4), 0);
    wait_until(
        Duration::from_secs(10),
        "the topic on the broker-only node",
        || cluster.metadata(3).topics.len() == 1,
    );
    cluster.kill9(3);
    wait_until(
        Duration::from_secs(10),
        "the broker-only node fenced",
        || cluster.metadata(0).brokers.len() == 3,
    );
    // Metadata it misses while down reaches it when it returns.
    assert_eq!(cluster.create_topic(0, "while-away", 1, 3), 0);
    cluster.restart(3);
    wait_until(Duration::from_secs(10), "it catches up", || {
        let m = cluster.metadata(3);
        m.brokers.len() == 4 && m.topics.len() == 2
    });
    // It is not a voter: the quorum still has three.
    let leader = cluster.quorum_leader().expect("a leader");
    assert!(leader < 3, "the broker-only node never leads the quorum");
}
