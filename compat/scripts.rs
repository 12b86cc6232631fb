//! The Python and JavaScript clients, each driven by its script under `compat/`.

use std::process::Command;

use crate::harness::TestBroker;
use crate::{root, run_ok};

fn python() -> Command {
    Command::new(root().join("target/compat/venv/bin/python"))
}

fn script(path: &str) -> String {
    root().join(path).display().to_string()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn confluent_kafka_every_scenario_then_everything_survives_a_restart() {
    let mut broker = TestBroker::start(&[]);
    let state = broker.data_dir().join("confluent-kafka-state.json");
    let bootstrap = broker.addr.to_string();
    let produced = run_ok(
        python()
            .arg(script("compat/python/confluent_kafka_test.py"))
            .arg(&bootstrap)
            .arg("produce")
            .arg(&state),
    );
    let out = stdout(&produced);
    for scenario in [
        "admin",
        "acks 0/1/all",
        "zstd",
        "900 kB",
        "offsets_for_times",
        "long poll",
        "idempotent",
    ] {
        assert!(
            out.contains(scenario),
            "scenario {scenario:?} did not report:\n{out}"
        );
    }
    broker.stop();
    broker.restart();
    let verified = run_ok(
        python()
            .arg(script("compat/python/confluent_kafka_test.py"))
            .arg(&bootstrap)
            .arg("verify")
            .arg(&state),
    );
    assert!(stdout(&verified).contains("acknowledged records read back"));
}

#[test]
fn kafka_python() {
    let broker = TestBroker::start(&[]);
    let out = stdout(&run_ok(
        python()
            .arg(script("compat/python/kafka_python_test.py"))
            .arg(broker.addr.to_string()),
    ));
    assert!(out.contains("offsets_for_times"), "{out}");
}

#[test]
fn aiokafka() {
    let broker = TestBroker::start(&[]);
    let out = stdout(&run_ok(
        python()
            .arg(script("compat/python/aiokafka_test.py"))
            .arg(broker.addr.to_string()),
    ));
    assert!(out.contains("offsets_for_times"), "{out}");
}

#[test]
fn kafkajs_produces_what_kcat_reads_back() {
    let broker = TestBroker::start(&[]);
    let output = run_ok(
        Command::new("node")
            .arg(script("compat/js/kafkajs_test.js"))
            .arg(broker.addr.to_string())
            .env("KAFKAJS_NO_PARTITIONER_WARNING", "1"),
    );
    let out = stdout(&output);
    let produced: Vec<(String, usize, String)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("produced "))
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let topic = parts.next().unwrap_or_default().to_string();
            let count = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            (topic, count, parts.next().unwrap_or_default().to_string())
        })
        .collect();
    assert_eq!(produced.len(), 5, "{out}");
    for (topic, count, first) in produced {
        let read = run_ok(Command::new("kcat").args([
            "-b",
            &broker.addr.to_string(),
            "-C",
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-q",
        ]));
        let lines: Vec<String> = String::from_utf8_lossy(&read.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(lines.len(), count, "{topic}");
        assert_eq!(lines[0], first, "{topic}");
    }
}

fn groups_broker() -> TestBroker {
    // No initial rebalance delay: each membership change below waits for one rebalance only.
    TestBroker::start(&["group.initial.rebalance.delay.ms=0"])
}

fn rebalance(strategy: &str) {
    let broker = groups_broker();
    let out = stdout(&run_ok(
        python()
            .arg(script("compat/python/confluent_groups_test.py"))
            .arg(broker.addr.to_string())
            .arg("rebalance")
            .arg(strategy),
    ));
    for step in [
        "three members",
        "after a clean close",
        "after a kill -9",
        "a new member joins",
    ] {
        assert!(
            out.contains(&format!("{strategy}: {step}")),
            "{step} missing:\n{out}"
        );
    }
}

#[test]
fn confluent_kafka_group_with_range_assignor() {
    rebalance("range");
}

#[test]
fn confluent_kafka_group_with_roundrobin_assignor() {
    rebalance("roundrobin");
}

#[test]
fn confluent_kafka_group_with_cooperative_sticky_assignor() {
    rebalance("cooperative-sticky");
}

#[test]
fn committed_offsets_survive_a_restart_and_kill_9() {
    let mut broker = groups_broker();
    let state = broker.data_dir().join("groups-state.json");
    let bootstrap = broker.addr.to_string();
    let groups = script("compat/python/confluent_groups_test.py");
    let out = stdout(&run_ok(
        python()
            .arg(&groups)
            .arg(&bootstrap)
            .arg("offsets")
            .arg(&state),
    ));
    assert!(
        out.contains("resumes after the committed offsets") && out.contains("delete groups"),
        "{out}"
    );
    broker.stop();
    broker.restart();
    run_ok(
        python()
            .arg(&groups)
            .arg(&bootstrap)
            .arg("verify")
            .arg(&state),
    );
    broker.kill9();
    broker.restart();
    let out = stdout(&run_ok(
        python()
            .arg(&groups)
            .arg(&bootstrap)
            .arg("verify")
            .arg(&state),
    ));
    assert!(out.contains("committed offsets intact"), "{out}");
}
