//! Tests of configuration loading and topic resolution.

use super::*;
use crate::log::TimestampType;

fn load(extra: &str, overrides: &[&str]) -> Result<BrokerConfig, ConfigError> {
    let mut given = parse_toml(extra, "test").unwrap();
    for o in overrides {
        let (k, v) = o.split_once('=').unwrap();
        given.insert(k.to_string(), v.to_string());
    }
    BrokerConfig::from_given(given)
}

#[test]
fn embedded_defaults_give_a_single_node_broker_on_localhost() {
    let c = load("", &[]).unwrap();
    assert_eq!(c.node_id, 0);
    assert_eq!(
        c.listeners,
        vec![Listener {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092
        }]
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
    assert_eq!(c.metadata_log_dir, PathBuf::from("./data"));
    assert!(c.auto_create_topics_enable);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.socket_request_max_bytes, 100 * 1024 * 1024);
    assert_eq!(c.topic_defaults.log, topic::default_log_config());
    assert_eq!(c.topic_defaults.min_insync_replicas, 1);
}

#[test]
fn flat_quoted_keys_and_nested_tables_mean_the_same() {
    let flat = load("\"log.dirs\" = \"/var/kafe\"\n\"num.partitions\" = 3", &[]).unwrap();
    let nested = load("log.dirs = \"/var/kafe\"\n[num]\npartitions = 3", &[]).unwrap();
    assert_eq!(flat.log_dirs, vec![PathBuf::from("/var/kafe")]);
    assert_eq!(nested.log_dirs, flat.log_dirs);
    assert_eq!(nested.num_partitions, 3);
}

#[test]
fn overrides_win_and_units_resolve_like_kafka() {
    let c = load(
        "\"log.retention.hours\" = 1",
        &["log.segment.bytes=2048", "log.retention.minutes=5"],
    )
    .unwrap();
    assert_eq!(c.topic_defaults.log.segment_bytes, 2048);
    assert_eq!(c.topic_defaults.log.retention_ms, 5 * 60_000);
    let c = load("\"log.retention.hours\" = 1", &[]).unwrap();
    assert_eq!(c.topic_defaults.log.retention_ms, 3_600_000);
    let c = load("\"log.retention.ms\" = -1", &[]).unwrap();
    assert_eq!(c.topic_defaults.log.retention_ms, -1);
}

#[test]
fn invalid_values_name_their_key() {
    for (text, key) in [
        ("\"num.partitions\" = 0", "num.partitions"),
        (
            "\"auto.create.topics.enable\" = \"yes\"",
            "auto.create.topics.enable",
        ),
        ("listeners = \"127.0.0.1:9092\"", "listeners"),
        ("\"log.segment.bytes\" = \"big\"", "log.segment.bytes"),
        (
            "\"log.message.timestamp.type\" = \"Now\"",
            "log.message.timestamp.type",
        ),
    ] {
        let err = load(text, &[]).unwrap_err();
        assert!(err.0.contains(key), "{err} does not name {key}");
    }
}

#[test]
fn the_documented_example_file_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/broker.toml");
    let c = BrokerConfig::load(Some(&path), &["num.partitions=4".to_string()]).unwrap();
    assert_eq!(c.num_partitions, 4, "overrides win over the file");
    assert_eq!(c.topic_defaults.log.retention_ms, 168 * 3_600_000);
    assert_eq!(c.max_connections, 10_000);
}

#[test]
fn unknown_keys_are_tolerated() {
    let c = load("\"some.future.key\" = 1\n\"num.io.threads\" = 16", &[]).unwrap();
    assert_eq!(
        c.explicit.get("some.future.key").map(String::as_str),
        Some("1")
    );
}

#[test]
fn properties_files_parse() {
    let p = parse_properties("# c\nnode.id=3\nlog.dirs = /tmp/k\nlisteners: PLAINTEXT://:9093\n\n");
    assert_eq!(p["node.id"], "3");
    assert_eq!(p["log.dirs"], "/tmp/k");
    let mut entries = parse_toml(EMBEDDED_DEFAULTS, "d").unwrap();
    entries.extend(p);
    let c = BrokerConfig::from_entries(entries).unwrap();
    assert_eq!(c.listeners[0].host, "0.0.0.0");
    assert_eq!(c.listeners[0].port, 9093);
}

#[test]
fn topic_overrides_are_checked_and_applied() {
    let broker = load("\"log.retention.hours\" = 2", &[]).unwrap();
    let overrides: BTreeMap<String, String> = [
        ("segment.bytes", "4096"),
        ("message.timestamp.type", "LogAppendTime"),
        ("min.insync.replicas", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let topic = broker.topic_config(&overrides).unwrap();
    assert_eq!(topic.log.segment_bytes, 4096);
    assert_eq!(
        topic.log.retention_ms,
        2 * 3_600_000,
        "the broker's hours, in ms"
    );
    assert_eq!(topic.log.timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(topic.min_insync_replicas, 2);
    assert_eq!(
        broker.describe_topic(&keys::RETENTION_MS, &overrides),
        (
            Some("7200000".into()),
            Origin::Broker(&keys::LOG_RETENTION_HOURS)
        )
    );
    for (k, v) in [
        ("retention.ms", "soon"),
        ("segment.bytes", "0"),
        ("no.such", "1"),
        ("cleanup.policy", "burn"),
        ("min.insync.replicas", "0"),
    ] {
        let bad: BTreeMap<String, String> = [(k.to_string(), v.to_string())].into_iter().collect();
        let err = broker.topic_config(&bad).unwrap_err();
        assert!(err.0.contains(k), "{k}={v}: {err}");
    }
}

#[test]
fn several_log_dirs_and_a_metadata_dir() {
    let c = load("", &["log.dirs=/a, /b", "metadata.log.dir=/m"]).unwrap();
    assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(c.metadata_log_dir, PathBuf::from("/m"));
    let c = load("", &["log.dirs=/a,/b"]).unwrap();
    assert_eq!(c.metadata_log_dir, PathBuf::from("/a"));
    assert!(load("", &["log.dirs=/a,/a"]).is_err());
}

const CLUSTER: &[&str] = &[
    "node.id=2",
    "process.roles=broker,controller",
    "listeners=PLAINTEXT://10.0.0.2:9092,CONTROLLER://10.0.0.2:9093",
    "controller.listener.names=CONTROLLER",
    "controller.quorum.voters=1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093",
];

fn cluster_with(changes: &[&str]) -> Result<BrokerConfig, ConfigError> {
    let mut overrides: Vec<&str> = CLUSTER.to_vec();
    overrides.extend_from_slice(changes);
    load("", &overrides)
}

#[test]
fn without_quorum_keys_the_node_is_a_single_broker() {
    let c = load("", &[]).unwrap();
    assert!(c.cluster.is_single_node());
    assert!(c.cluster.roles.broker && c.cluster.roles.controller);
    assert_eq!(c.cluster.inter_broker_listener_name, "PLAINTEXT");
    assert_eq!(c.cluster.broker_session_timeout_ms, 9000);
    assert_eq!(
        c.offsets_topic_replication_factor, 1,
        "one broker holds one replica"
    );
}

#[test]
fn a_cluster_gets_kafkas_replication_of_the_offsets_topic_unless_it_says_otherwise() {
    assert_eq!(
        cluster_with(&[]).unwrap().offsets_topic_replication_factor,
        3
    );
    let explicit = cluster_with(&["offsets.topic.replication.factor=1"]).unwrap();
    assert_eq!(explicit.offsets_topic_replication_factor, 1);
}

#[test]
fn kraft_keys_describe_a_cluster_node() {
    let c = cluster_with(&[]).unwrap();
    assert_eq!(c.cluster.voters.len(), 3);
    assert_eq!(
        c.cluster.voters[2],
        Voter {
            id: 3,
            host: "10.0.0.3".into(),
            port: 9093
        }
    );
    assert_eq!(c.cluster.controller_listener_names, vec!["CONTROLLER"]);
    assert_eq!(c.cluster.inter_broker_listener_name, "PLAINTEXT");
    // Clients are never told about the controller listener.
    assert_eq!(c.advertised_listeners.len(), 1);
    assert_eq!(c.advertised_listeners[0].name, "PLAINTEXT");
    // A broker-only node joins by the voters' controller listeners.
    let broker = cluster_with(&[
        "node.id=7",
        "process.roles=broker",
        "listeners=PLAINTEXT://10.0.0.7:9092",
    ])
    .unwrap();
    assert!(broker.cluster.roles.broker && !broker.cluster.roles.controller);
    // A controller-only node.
    let controller = cluster_with(&[
        "process.roles=controller",
        "listeners=CONTROLLER://10.0.0.2:9093",
    ])
    .unwrap();
    assert!(!controller.cluster.roles.broker);
}

#[test]
fn contradicting_cluster_keys_are_refused_with_the_reason() {
    for (changes, expected) in [
        (&["node.id=5"][..], "not among controller.quorum.voters"),
        (
            &["process.roles=broker", "listeners=PLAINTEXT://:9092"][..],
            "does not include controller",
        ),
        (
            &["node.id=7", "process.roles=broker"][..],
            "does not serve the controller listener",
        ),
        (
            &["controller.listener.names="][..],
            "must name the controller's listener",
        ),
        (
            &["listeners=PLAINTEXT://:9092"][..],
            "controller listener CONTROLLER",
        ),
        (
            &["advertised.listeners=PLAINTEXT://a:9092,CONTROLLER://a:9093"][..],
            "must not contain the controller listener",
        ),
        (
            &["controller.quorum.voters=1@h:9093,1@g:9093"][..],
            "listed twice",
        ),
        (&["controller.quorum.voters=1-h:9093"][..], "id@host:port"),
        (&["process.roles=broker,zookeeper"][..], "unknown role"),
        (
            &["controller.quorum.bootstrap.servers=h:9093"][..],
            "not served yet",
        ),
        (
            &["listener.security.protocol.map=PLAINTEXT:SSL,CONTROLLER:PLAINTEXT"][..],
            "only PLAINTEXT",
        ),
        (
            &[
                "process.roles=controller",
                "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
            ][..],
            "serves only its controller listeners",
        ),
    ] {
        let err = cluster_with(changes).unwrap_err();
        assert!(err.0.contains(expected), "{changes:?}: {err}");
    }
    let err = load("", &["process.roles=broker,controller"]).unwrap_err();
    assert!(err.0.contains("controller.quorum.voters"), "{err}");
}
