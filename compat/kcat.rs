//! kcat from Debian (librdkafka 2.0.2): metadata, producing with keys, headers, null values, every
//! codec and acks setting, a 900 kB record and a too-large one, and consuming from the beginning,
//! the end, an offset inside a batch and a timestamp; watermark and time queries.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::TestBroker;
use crate::run_ok;

fn kcat(broker: &TestBroker) -> Command {
    let mut c = Command::new("kcat");
    c.args(["-b", &broker.addr.to_string(), "-m", "15"]);
    c
}

/// Produces `input` (one message per line) with extra kcat arguments; returns kcat's output.
fn produce(broker: &TestBroker, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = kcat(broker)
        .arg("-P")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is installed (compat/setup.sh)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to kcat");
    child.wait_with_output().expect("kcat")
}

/// Consumes partition 0 of `topic` from `offset` to the end, as JSON records.
fn consume(broker: &TestBroker, topic: &str, offset: &str) -> Vec<Value> {
    let out =
        run_ok(kcat(broker).args(["-C", "-t", topic, "-p", "0", "-o", offset, "-e", "-q", "-J"]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("kcat printed {l:?}: {e}")))
        .collect()
}

#[test]
fn metadata_lists_broker_and_auto_created_topics() {
    let broker = TestBroker::start(&["num.partitions=2"]);
    let out = produce(&broker, &["-t", "meta"], b"hello\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = run_ok(kcat(&broker).args(["-L", "-J"]));
    let meta: Value = serde_json::from_slice(&json.stdout).expect("metadata JSON");
    assert_eq!(meta["brokers"][0]["id"], 0);
    assert_eq!(meta["brokers"][0]["name"], broker.addr.to_string());
    let topic = meta["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == "meta")
        .expect("auto-created topic");
    assert_eq!(topic["partitions"].as_array().unwrap().len(), 2);
}

#[test]
fn keys_headers_nulls_codecs_and_acks_round_trip() {
    let broker = TestBroker::start(&[]);
    for (codec, acks) in [
        ("none", "1"),
        ("gzip", "all"),
        ("snappy", "0"),
        ("lz4", "1"),
        ("zstd", "all"),
    ] {
        let topic = format!("kc-{codec}");
        let input = b"k1:v1\nk2:\n:v3\nplain\n";
        let out = produce(
            &broker,
            &[
                "-t",
                &topic,
                "-p",
                "0",
                "-K:",
                "-Z",
                "-H",
                "h1=a",
                "-H",
                "h2=b",
                "-z",
                codec,
                "-X",
                &format!("acks={acks}"),
            ],
            input,
        );
        assert!(
            out.status.success(),
            "{codec}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = consume(&broker, &topic, "beginning");
        assert_eq!(got.len(), 4, "{codec}: {got:?}");
        assert_eq!(
            (&got[0]["key"], &got[0]["payload"]),
            (&Value::from("k1"), &Value::from("v1")),
            "{codec}"
        );
        assert_eq!(
            got[1]["payload"],
            Value::Null,
            "{codec}: -Z makes an empty value null"
        );
        assert_eq!(
            got[2]["key"],
            Value::Null,
            "{codec}: -Z makes an empty key null"
        );
        assert_eq!(got[3]["payload"], "plain");
        assert_eq!(
            got[0]["headers"],
            serde_json::json!(["h1", "a", "h2", "b"]),
            "{codec}"
        );
        let offsets: Vec<i64> = got.iter().map(|m| m["offset"].as_i64().unwrap()).collect();
        assert_eq!(offsets, vec![0, 1, 2, 3]);
    }
}

#[test]
fn consume_from_end_middle_and_timestamp_with_watermarks() {
    let broker = TestBroker::start(&[]);
    let lines: String = (0..100).map(|i| format!("message {i}\n")).collect();
    // One lz4 batch of 100 records (linger long enough to batch them together).
    let out = produce(
        &broker,
        &[
            "-t",
            "kc-pos",
            "-p",
            "0",
            "-z",
            "lz4",
            "-X",
            "linger.ms=200",
        ],
        lines.as_bytes(),
    );
    assert!(out.status.success());
    let middle = consume(&broker, "kc-pos", "42");
    assert_eq!(middle.len(), 58, "from the middle of the batch");
    assert_eq!(middle[0]["payload"], "message 42");
    assert!(consume(&broker, "kc-pos", "end").is_empty());
    let ts = middle[0]["ts"].as_i64().expect("timestamp");
    let from_time = consume(&broker, "kc-pos", &format!("s@{ts}"));
    assert!(!from_time.is_empty() && from_time[0]["ts"].as_i64().unwrap() >= ts);
    // One query per call: kcat keeps only the last of several queries for the same partition.
    for (query, expected) in [("kc-pos:0:-1", "offset 100"), ("kc-pos:0:-2", "offset 0")] {
        let q = run_ok(kcat(&broker).args(["-Q", "-t", query]));
        let text = String::from_utf8_lossy(&q.stdout);
        assert!(text.contains(expected), "{query}: {text}");
    }
    let future = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 3_600_000;
    let q = run_ok(kcat(&broker).args(["-Q", "-t", &format!("kc-pos:0:{future}")]));
    assert!(
        String::from_utf8_lossy(&q.stdout).contains("offset -1"),
        "no record that late"
    );
}

#[test]
fn a_900_kb_record_passes_and_a_2_mb_one_is_refused() {
    let broker = TestBroker::start(&[]);
    let big: String = "x".repeat(900_000) + "\n";
    let out = produce(
        &broker,
        &["-t", "kc-big", "-p", "0", "-X", "acks=all"],
        big.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = consume(&broker, "kc-big", "beginning");
    assert_eq!(got[0]["payload"].as_str().map(str::len), Some(900_000));
    let huge: String = "y".repeat(2_000_000) + "\n";
    let out = produce(
        &broker,
        &["-t", "kc-big", "-p", "0", "-X", "message.max.bytes=3000000"],
        huge.as_bytes(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("too large"),
        "kcat should report the broker's MESSAGE_TOO_LARGE:\n{stderr}"
    );
    assert_eq!(consume(&broker, "kc-big", "beginning").len(), 1);
}

#[test]
fn idempotent_producer() {
    let broker = TestBroker::start(&[]);
    let lines: String = (0..5000).map(|i| format!("idem {i}\n")).collect();
    let out = produce(
        &broker,
        &["-t", "kc-idem", "-p", "0", "-X", "enable.idempotence=true"],
        lines.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = consume(&broker, "kc-idem", "beginning");
    assert_eq!(got.len(), 5000);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, m)| m["payload"] == format!("idem {i}") && m["offset"] == i as i64)
    );
}

#[test]
fn balanced_consumer_group_resumes_from_its_commits() {
    let broker = TestBroker::start(&["group.initial.rebalance.delay.ms=0", "num.partitions=3"]);
    let lines: String = (0..30).map(|i| format!("first {i}\n")).collect();
    assert!(
        produce(&broker, &["-t", "kc-group"], lines.as_bytes())
            .status
            .success()
    );
    let consume_group = || {
        let out = run_ok(kcat(&broker).args([
            "-G",
            "kc-g",
            "-e",
            "-q",
            "-X",
            "auto.offset.reset=earliest",
            "kc-group",
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let first = consume_group();
    assert_eq!(first.len(), 30, "{first:?}");
    let lines: String = (0..5).map(|i| format!("second {i}\n")).collect();
    assert!(
        produce(&broker, &["-t", "kc-group"], lines.as_bytes())
            .status
            .success()
    );
    let mut second = consume_group();
    second.sort();
    assert_eq!(
        second,
        (0..5).map(|i| format!("second {i}")).collect::<Vec<_>>(),
        "only what came after the commit"
    );
}
