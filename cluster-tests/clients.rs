//! Real clients against a three-node cluster: kcat, confluent-kafka, kafka-python, aiokafka and
//! kafkajs see three brokers and a controller among them, and create topics with three replicas.
//! `compat/setup.sh` installs them (the README's test command runs it first).

use std::path::PathBuf;
use std::process::Command;

use crate::cluster::{FAST, TestCluster};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_ok(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (run compat/setup.sh)"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn real_clients_see_three_brokers_and_create_replicated_topics() {
    let cluster = TestCluster::start(3, FAST, &[0, 1, 2]);
    let ids = "1,2,3";
    // Each client bootstraps from a different node.
    let kcat = run_ok(
        Command::new("kcat")
            .arg("-b")
            .arg(cluster.node(0).addr().to_string())
            .arg("-L"),
    );
    assert!(kcat.contains(" 3 brokers:"), "{kcat}");
    assert!(kcat.contains("(controller)"), "{kcat}");
    let python = run_ok(
        Command::new(root().join("target/compat/venv/bin/python"))
            .arg(root().join("compat/python/cluster_admin_test.py"))
            .arg(cluster.node(1).addr().to_string())
            .arg(ids),
    );
    for client in ["confluent-kafka", "kafka-python", "aiokafka"] {
        assert!(
            python.contains(&format!("{client}: three brokers")),
            "{python}"
        );
    }
    let js = run_ok(
        Command::new("node")
            .arg(root().join("compat/js/kafkajs_cluster_test.js"))
            .arg(cluster.node(2).addr().to_string())
            .arg(ids)
            .current_dir(root().join("compat/js")),
    );
    assert!(js.contains("kafkajs: three brokers"), "{js}");
    // Every topic is on every broker's picture with three replicas.
    let m = cluster.metadata(0);
    for topic in [
        "rf3-confluent",
        "rf3-kafka-python",
        "rf3-aiokafka",
        "rf3-kafkajs",
    ] {
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
            .unwrap_or_else(|| panic!("{topic} missing"));
        assert!(t.partitions.iter().all(|p| p.replica_nodes.len() == 3));
    }
}
