//! Network partitions, with every node in its own network namespace: a controller cut off from
//! the others loses its role, its broker stops leading once its session has expired, the majority
//! goes on, and when the network heals the cut-off node takes the majority's history. Skipped, with
//! a message, where namespaces cannot be made (no root, no `ip`).

use std::time::Duration;

use kafe::record::batch::testing::batch;

use crate::cluster::{FAST, TestCluster, wait_until};
use crate::harness::Conn;
use crate::requests::produce;

fn cluster_or_skip() -> Option<TestCluster> {
    match TestCluster::new_in_namespaces(3, FAST) {
        Ok(cluster) => Some(cluster),
        Err(why) => {
            eprintln!("skipped: cannot make network namespaces here: {why}");
            None
        }
    }
}

fn topic_names(cluster: &TestCluster, i: usize) -> Vec<String> {
    let mut names: Vec<String> = cluster
        .metadata(i)
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    names.sort();
    names
}

/// Produces one record with acks=1 to `partition` of `topic` through node `i`: the error code.
fn produce_one(cluster: &TestCluster, i: usize, topic: &str, partition: i32) -> i16 {
    let mut conn = Conn::connect(cluster.node(i).addr());
    conn.set_read_timeout(Duration::from_secs(10));
    let records = batch(0, kafe::clock::now_ms(), &[b"during the partition"]);
    produce(&mut conn, 9, topic, partition, records, 1).0
}

#[test]
fn a_cut_off_controller_loses_its_role_and_its_broker_stops_leading() {
    let Some(mut cluster) = cluster_or_skip() else {
        return;
    };
    for i in 0..3 {
        cluster.spawn(i);
    }
    for i in 0..3 {
        cluster.wait_serving(i);
    }
    assert_eq!(cluster.create_topic(0, "spread", 6, 1), 0);
    let cut = cluster.quorum_leader().expect("a quorum leader");
    let cut_id = cluster.node(cut).id;
    let majority = (cut + 1) % 3;
    // A partition the soon-cut-off broker leads, and which takes writes now.
    let led = cluster.metadata(cut).topics[0]
        .partitions
        .iter()
        .find(|p| p.leader_id.0 == cut_id)
        .map(|p| p.partition_index)
        .expect("the controller's broker leads a partition");
    assert_eq!(produce_one(&cluster, cut, "spread", led), 0);

    cluster
        .namespaces
        .as_ref()
        .expect("namespaces")
        .cut_off(cut_id as usize);

    // The majority elects another controller and goes on changing metadata.
    wait_until(
        Duration::from_secs(20),
        "a change on the majority side",
        || cluster.create_topic(majority, "majority-side", 1, 1) == 0,
    );
    assert_ne!(cluster.quorum_leader(), None);
    // The cut-off node cannot change anything.
    let code = cluster.create_topic(cut, "minority-side", 1, 1);
    assert!(
        code == 7 || code == 41,
        "REQUEST_TIMED_OUT or NOT_CONTROLLER from the minority, got {code}"
    );
    // Once its session has expired its broker leads nothing, although its own (stale) picture
    // still says it leads.
    wait_until(
        Duration::from_secs(15),
        "the cut-off leader to stop leading",
        || produce_one(&cluster, cut, "spread", led) == 6,
    );
    assert!(
        cluster
            .node(cut)
            .log()
            .contains("leading nothing until the controller answers again"),
        "{}",
        cluster.node(cut).log()
    );
    // The majority fenced it.
    let fenced = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        cluster.metadata(majority).brokers.len() == 2
    });
    assert!(
        fenced,
        "the majority did not fence it:\n{}",
        cluster.other_logs(cut)
    );

    cluster
        .namespaces
        .as_ref()
        .expect("namespaces")
        .reconnect(cut_id as usize);

    // Healed: it takes the majority's history (its own attempt is gone), is admitted again, and
    // leads its partition once more.
    let expected = vec!["majority-side".to_string(), "spread".to_string()];
    wait_until(Duration::from_secs(30), "every node to agree again", || {
        (0..3).all(|i| {
            let m = cluster.metadata(i);
            m.brokers.len() == 3 && topic_names(&cluster, i) == expected
        })
    });
    wait_until(
        Duration::from_secs(10),
        "writes to its partition again",
        || produce_one(&cluster, cut, "spread", led) == 0,
    );
}
