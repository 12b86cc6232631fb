//! The one place configuration is read: broker settings from the embedded defaults, a TOML (or
//! Java `.properties`) file and `--override key=value` flags, all under Kafka's property names with
//! Kafka's defaults; and topic-level settings resolved against the broker's.
//!
//! A TOML file may spell a key quoted and flat (`"log.dirs" = "/var/kafe"`) or as the nested tables
//! TOML makes of dotted keys (`log.dirs = "/var/kafe"`); both mean the same. An invalid value is an
//! error naming the key; an unknown key is a warning, so a pasted `server.properties` still starts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::log::{LogConfig, TimestampType};

/// The default configuration `cargo run` starts with.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

/// A configuration value's type, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// One known configuration key.
#[derive(Debug)]
pub struct ConfigDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Kafka's default, as text; `None` is null.
    pub default: Option<&'static str>,
    pub doc: &'static str,
    /// Whether kafe acts on it (others are accepted for compatibility and reported as is).
    pub used: bool,
}

const fn def(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    doc: &'static str,
    used: bool,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        doc,
        used,
    }
}

/// Broker-level keys kafe knows.
pub static BROKER_CONFIGS: &[ConfigDef] = &[
    def(
        "node.id",
        Kind::Int,
        Some("0"),
        "The id of this broker.",
        true,
    ),
    def(
        "broker.id",
        Kind::Int,
        Some("-1"),
        "Alias of node.id kept for old configurations.",
        true,
    ),
    def(
        "process.roles",
        Kind::List,
        Some("broker,controller"),
        "Roles of this node.",
        false,
    ),
    def(
        "listeners",
        Kind::String,
        Some("PLAINTEXT://127.0.0.1:9092"),
        "Addresses to listen on.",
        true,
    ),
    def(
        "advertised.listeners",
        Kind::String,
        None,
        "Addresses given to clients; defaults to listeners.",
        true,
    ),
    def(
        "log.dirs",
        Kind::String,
        Some("./data"),
        "The directory that holds the logs.",
        true,
    ),
    def(
        "log.dir",
        Kind::String,
        Some("./data"),
        "Used when log.dirs is not set.",
        true,
    ),
    def(
        "num.partitions",
        Kind::Int,
        Some("1"),
        "Default partition count of new topics.",
        true,
    ),
    def(
        "default.replication.factor",
        Kind::Int,
        Some("1"),
        "Default replication factor of new topics.",
        true,
    ),
    def(
        "auto.create.topics.enable",
        Kind::Boolean,
        Some("true"),
        "Create topics on first metadata request.",
        true,
    ),
    def(
        "delete.topic.enable",
        Kind::Boolean,
        Some("true"),
        "Allow DeleteTopics.",
        true,
    ),
    def(
        "socket.request.max.bytes",
        Kind::Int,
        Some("104857600"),
        "Largest request accepted.",
        true,
    ),
    def(
        "max.connections",
        Kind::Int,
        Some("10000"),
        "Most client connections at once.",
        true,
    ),
    def(
        "message.max.bytes",
        Kind::Int,
        Some("1048588"),
        "Largest record batch accepted.",
        true,
    ),
    def(
        "log.segment.bytes",
        Kind::Int,
        Some("1073741824"),
        "Segment file size.",
        true,
    ),
    def(
        "log.roll.ms",
        Kind::Long,
        None,
        "Roll a segment after this long.",
        true,
    ),
    def(
        "log.roll.hours",
        Kind::Int,
        Some("168"),
        "Roll a segment after this long.",
        true,
    ),
    def(
        "log.retention.ms",
        Kind::Long,
        None,
        "Delete segments older than this; -1 keeps them.",
        true,
    ),
    def(
        "log.retention.minutes",
        Kind::Int,
        None,
        "As log.retention.ms, in minutes.",
        true,
    ),
    def(
        "log.retention.hours",
        Kind::Int,
        Some("168"),
        "As log.retention.ms, in hours.",
        true,
    ),
    def(
        "log.retention.bytes",
        Kind::Long,
        Some("-1"),
        "Largest log size per partition; -1 unlimited.",
        true,
    ),
    def(
        "log.retention.check.interval.ms",
        Kind::Long,
        Some("300000"),
        "How often retention runs.",
        true,
    ),
    def(
        "log.index.size.max.bytes",
        Kind::Int,
        Some("10485760"),
        "Size of each index file.",
        true,
    ),
    def(
        "log.index.interval.bytes",
        Kind::Int,
        Some("4096"),
        "Bytes between offset index entries.",
        true,
    ),
    def(
        "log.message.timestamp.type",
        Kind::String,
        Some("CreateTime"),
        "CreateTime or LogAppendTime.",
        true,
    ),
    def(
        "log.flush.offset.checkpoint.interval.ms",
        Kind::Int,
        Some("60000"),
        "How often recovery points are saved.",
        true,
    ),
    def(
        "log.flush.interval.messages",
        Kind::Long,
        Some("9223372036854775807"),
        "Not used: acks=all fsyncs.",
        false,
    ),
    def(
        "log.flush.interval.ms",
        Kind::Long,
        None,
        "Not used: acks=all fsyncs.",
        false,
    ),
    def(
        "log.cleanup.policy",
        Kind::List,
        Some("delete"),
        "delete, or compact to keep data (compaction itself is not implemented).",
        true,
    ),
    def(
        "min.insync.replicas",
        Kind::Int,
        Some("1"),
        "Replicas that must acknowledge acks=all.",
        true,
    ),
    def(
        "offsets.topic.num.partitions",
        Kind::Int,
        Some("50"),
        "Partitions of __consumer_offsets.",
        true,
    ),
    def(
        "offsets.topic.replication.factor",
        Kind::Short,
        Some("3"),
        "Replication of __consumer_offsets.",
        false,
    ),
    def(
        "offsets.retention.minutes",
        Kind::Int,
        Some("10080"),
        "Committed offsets expiry.",
        true,
    ),
    def(
        "offsets.retention.check.interval.ms",
        Kind::Long,
        Some("600000"),
        "How often expired offsets are removed.",
        true,
    ),
    def(
        "offset.metadata.max.bytes",
        Kind::Int,
        Some("4096"),
        "Largest metadata string of a committed offset.",
        true,
    ),
    def(
        "group.initial.rebalance.delay.ms",
        Kind::Int,
        Some("3000"),
        "Delay of a new group's first rebalance.",
        true,
    ),
    def(
        "group.min.session.timeout.ms",
        Kind::Int,
        Some("6000"),
        "Smallest session timeout allowed.",
        true,
    ),
    def(
        "group.max.session.timeout.ms",
        Kind::Int,
        Some("1800000"),
        "Largest session timeout allowed.",
        true,
    ),
    def(
        "num.network.threads",
        Kind::Int,
        Some("3"),
        "Not used: one async runtime serves all.",
        false,
    ),
    def(
        "num.io.threads",
        Kind::Int,
        Some("8"),
        "Not used: one async runtime serves all.",
        false,
    ),
    def(
        "num.recovery.threads.per.data.dir",
        Kind::Int,
        Some("1"),
        "Not used.",
        false,
    ),
    def(
        "socket.send.buffer.bytes",
        Kind::Int,
        Some("102400"),
        "Not used.",
        false,
    ),
    def(
        "socket.receive.buffer.bytes",
        Kind::Int,
        Some("102400"),
        "Not used.",
        false,
    ),
    def(
        "transaction.state.log.replication.factor",
        Kind::Short,
        Some("3"),
        "Not used.",
        false,
    ),
    def(
        "transaction.state.log.min.isr",
        Kind::Int,
        Some("2"),
        "Not used.",
        false,
    ),
    def(
        "controller.quorum.voters",
        Kind::List,
        Some(""),
        "Not used yet.",
        false,
    ),
    def(
        "controller.listener.names",
        Kind::List,
        None,
        "Not used yet.",
        false,
    ),
    def(
        "listener.security.protocol.map",
        Kind::String,
        None,
        "Only PLAINTEXT is served.",
        false,
    ),
    def(
        "inter.broker.listener.name",
        Kind::String,
        None,
        "Not used yet.",
        false,
    ),
    def("zookeeper.connect", Kind::String, None, "Not used.", false),
];

/// A topic-level key: its default comes from a broker key when the broker sets one.
#[derive(Debug)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Broker keys whose values become this key's default, most specific first.
    pub broker_synonyms: &'static [&'static str],
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

const fn topic(
    name: &'static str,
    kind: Kind,
    broker_synonyms: &'static [&'static str],
    default: Option<&'static str>,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        kind,
        broker_synonyms,
        default,
        doc,
    }
}

/// Topic-level keys, as Kafka lists them for DescribeConfigs.
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    topic(
        "cleanup.policy",
        Kind::List,
        &["log.cleanup.policy"],
        Some("delete"),
        "delete (compact is accepted, not applied).",
    ),
    topic(
        "compression.type",
        Kind::String,
        &["compression.type"],
        Some("producer"),
        "Batches are stored as produced.",
    ),
    topic(
        "delete.retention.ms",
        Kind::Long,
        &["log.cleaner.delete.retention.ms"],
        Some("86400000"),
        "Tombstone retention for compacted topics.",
    ),
    topic(
        "file.delete.delay.ms",
        Kind::Long,
        &["log.segment.delete.delay.ms"],
        Some("60000"),
        "Delay before deleting a file.",
    ),
    topic(
        "flush.messages",
        Kind::Long,
        &["log.flush.interval.messages"],
        Some("9223372036854775807"),
        "Messages between fsyncs.",
    ),
    topic(
        "flush.ms",
        Kind::Long,
        &["log.flush.interval.ms"],
        Some("9223372036854775807"),
        "Time between fsyncs.",
    ),
    topic(
        "index.interval.bytes",
        Kind::Int,
        &["log.index.interval.bytes"],
        Some("4096"),
        "Bytes between index entries.",
    ),
    topic(
        "max.compaction.lag.ms",
        Kind::Long,
        &["log.cleaner.max.compaction.lag.ms"],
        Some("9223372036854775807"),
        "Compaction lag bound.",
    ),
    topic(
        "max.message.bytes",
        Kind::Int,
        &["message.max.bytes"],
        Some("1048588"),
        "Largest record batch.",
    ),
    topic(
        "message.timestamp.after.max.ms",
        Kind::Long,
        &["log.message.timestamp.after.max.ms"],
        Some("9223372036854775807"),
        "Allowed future skew.",
    ),
    topic(
        "message.timestamp.before.max.ms",
        Kind::Long,
        &["log.message.timestamp.before.max.ms"],
        Some("9223372036854775807"),
        "Allowed past skew.",
    ),
    topic(
        "message.timestamp.type",
        Kind::String,
        &["log.message.timestamp.type"],
        Some("CreateTime"),
        "CreateTime or LogAppendTime.",
    ),
    topic(
        "min.cleanable.dirty.ratio",
        Kind::Double,
        &["log.cleaner.min.cleanable.ratio"],
        Some("0.5"),
        "Compaction trigger.",
    ),
    topic(
        "min.compaction.lag.ms",
        Kind::Long,
        &["log.cleaner.min.compaction.lag.ms"],
        Some("0"),
        "Compaction lag.",
    ),
    topic(
        "min.insync.replicas",
        Kind::Int,
        &["min.insync.replicas"],
        Some("1"),
        "Replicas needed for acks=all.",
    ),
    topic(
        "preallocate",
        Kind::Boolean,
        &["log.preallocate"],
        Some("false"),
        "Preallocate segment files.",
    ),
    topic(
        "retention.bytes",
        Kind::Long,
        &["log.retention.bytes"],
        Some("-1"),
        "Largest partition size; -1 unlimited.",
    ),
    topic(
        "retention.ms",
        Kind::Long,
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        Some("604800000"),
        "Age limit; -1 unlimited.",
    ),
    topic(
        "segment.bytes",
        Kind::Int,
        &["log.segment.bytes"],
        Some("1073741824"),
        "Segment file size.",
    ),
    topic(
        "segment.index.bytes",
        Kind::Int,
        &["log.index.size.max.bytes"],
        Some("10485760"),
        "Index file size.",
    ),
    topic(
        "segment.jitter.ms",
        Kind::Long,
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        Some("0"),
        "Roll jitter.",
    ),
    topic(
        "segment.ms",
        Kind::Long,
        &["log.roll.ms", "log.roll.hours"],
        Some("604800000"),
        "Segment age limit.",
    ),
    topic(
        "unclean.leader.election.enable",
        Kind::Boolean,
        &["unclean.leader.election.enable"],
        Some("false"),
        "Allow out-of-sync leaders.",
    ),
];

/// A configuration problem that stops the broker from starting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(key: &str, value: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError(format!(
        "invalid value {value:?} for configuration {key}: {why}"
    ))
}

/// Where a broker setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Set in the configuration file or with `--override`.
    Static,
    Default,
}

/// A listener: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    pub fn parse(key: &str, text: &str) -> Result<Listener, ConfigError> {
        let (name, address) = text
            .split_once("://")
            .ok_or_else(|| invalid(key, text, "expected NAME://host:port"))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid(key, text, "expected NAME://host:port"))?;
        let port = port
            .parse()
            .map_err(|_| invalid(key, text, "the port is not a number from 0 to 65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Listener {
            name: name.to_string(),
            host: if host.is_empty() {
                "0.0.0.0".to_string()
            } else {
                host.to_string()
            },
            port,
        })
    }
}

/// Settings resolved from all sources.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub log_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    pub log_retention_check_interval_ms: u64,
    pub log_flush_offset_checkpoint_interval_ms: u64,
    pub offsets_topic_num_partitions: i32,
    pub offsets_retention_minutes: i64,
    pub offsets_retention_check_interval_ms: u64,
    pub offset_metadata_max_bytes: usize,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// Topic-level defaults as the broker sets them (e.g. `log.segment.bytes`).
    pub log_defaults: LogConfig,
    pub min_insync_replicas: i32,
    /// Every key given explicitly, with its text value.
    pub explicit: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Loads the embedded defaults, then `file` (if any), then the overrides, in that order.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let mut entries = parse_toml(EMBEDDED_DEFAULTS, "embedded defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            let from_file = if path.extension().is_some_and(|e| e == "properties") {
                parse_properties(&text)
            } else {
                parse_toml(&text, &path.display().to_string())?
            };
            entries.extend(from_file);
        }
        for item in overrides {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("--override {item:?}: expected key=value")))?;
            entries.insert(key.trim().to_string(), value.trim().to_string());
        }
        Self::from_entries(entries)
    }

    /// Resolves typed settings from `key -> text` entries.
    pub fn from_entries(entries: BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        for key in entries.keys() {
            let known = BROKER_CONFIGS.iter().any(|d| d.name == key)
                || TOPIC_CONFIGS
                    .iter()
                    .any(|d| d.broker_synonyms.contains(&key.as_str()));
            if !known {
                tracing::warn!(key = %key, "unknown configuration key; ignoring it");
            } else if BROKER_CONFIGS.iter().any(|d| d.name == key && !d.used) {
                tracing::info!(key = %key, "configuration key accepted but not used by kafe");
            }
        }
        let r = Resolver { entries: &entries };
        let node_id = match r.explicit("node.id") {
            Some(_) => r.int("node.id")?,
            None if r.explicit("broker.id").is_some() => r.int("broker.id")?,
            None => r.int("node.id")?,
        };
        if node_id < 0 {
            return Err(invalid(
                "node.id",
                &node_id.to_string(),
                "must be 0 or more",
            ));
        }
        let listeners = r.listeners("listeners")?;
        if listeners.is_empty() {
            return Err(invalid("listeners", "", "at least one listener is needed"));
        }
        let advertised_listeners = match r.explicit("advertised.listeners") {
            Some(_) => r.listeners("advertised.listeners")?,
            None => listeners.clone(),
        };
        let log_dirs = r
            .explicit("log.dirs")
            .or_else(|| r.explicit("log.dir"))
            .unwrap_or("./data");
        let dirs: Vec<&str> = log_dirs
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .collect();
        let log_dir = match dirs.as_slice() {
            [one] => PathBuf::from(one),
            [] => return Err(invalid("log.dirs", log_dirs, "no directory given")),
            _ => {
                return Err(invalid(
                    "log.dirs",
                    log_dirs,
                    "kafe serves one data directory",
                ));
            }
        };
        let log_defaults = LogConfig {
            segment_bytes: r.positive_int("log.segment.bytes")? as u64,
            segment_ms: r.first_ms(&[("log.roll.ms", 1), ("log.roll.hours", 3_600_000)])?,
            segment_index_bytes: r.positive_int("log.index.size.max.bytes")? as usize,
            index_interval_bytes: r.non_negative_int("log.index.interval.bytes")? as usize,
            retention_ms: r.first_ms(&[
                ("log.retention.ms", 1),
                ("log.retention.minutes", 60_000),
                ("log.retention.hours", 3_600_000),
            ])?,
            retention_bytes: r.long("log.retention.bytes")?,
            max_message_bytes: r.non_negative_int("message.max.bytes")? as usize,
            timestamp_type: parse_timestamp_type(
                "log.message.timestamp.type",
                r.text("log.message.timestamp.type"),
            )?,
            delete_enabled: r
                .text("log.cleanup.policy")
                .split(',')
                .any(|p| p.trim() == "delete"),
        };
        let min_insync_replicas = r.positive_int("min.insync.replicas")?;
        let max_session = r.positive_int("group.max.session.timeout.ms")?;
        let min_session = r.positive_int("group.min.session.timeout.ms")?;
        if min_session > max_session {
            return Err(invalid(
                "group.min.session.timeout.ms",
                &min_session.to_string(),
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        Ok(BrokerConfig {
            node_id,
            listeners,
            advertised_listeners,
            log_dir,
            num_partitions: r.positive_int("num.partitions")?,
            default_replication_factor: r.positive_int("default.replication.factor")? as i16,
            auto_create_topics_enable: r.bool("auto.create.topics.enable")?,
            delete_topic_enable: r.bool("delete.topic.enable")?,
            socket_request_max_bytes: r.positive_int("socket.request.max.bytes")? as usize,
            max_connections: r.positive_int("max.connections")? as usize,
            log_retention_check_interval_ms: r.positive_long("log.retention.check.interval.ms")?
                as u64,
            log_flush_offset_checkpoint_interval_ms: r
                .positive_int("log.flush.offset.checkpoint.interval.ms")?
                as u64,
            offsets_topic_num_partitions: r.positive_int("offsets.topic.num.partitions")?,
            offsets_retention_minutes: i64::from(r.positive_int("offsets.retention.minutes")?),
            offsets_retention_check_interval_ms: r
                .positive_long("offsets.retention.check.interval.ms")?
                as u64,
            offset_metadata_max_bytes: r.non_negative_int("offset.metadata.max.bytes")? as usize,
            group_initial_rebalance_delay_ms: r
                .non_negative_int("group.initial.rebalance.delay.ms")?
                as u64,
            group_min_session_timeout_ms: min_session,
            group_max_session_timeout_ms: max_session,
            log_defaults,
            min_insync_replicas,
            explicit: entries,
        })
    }

    /// A broker key's value as text and where it came from (`None` value: null).
    pub fn describe(&self, def: &ConfigDef) -> (Option<String>, Source) {
        match self.explicit.get(def.name) {
            Some(v) => (Some(v.clone()), Source::Static),
            None => (def.default.map(str::to_string), Source::Default),
        }
    }

    /// The broker-level default of a topic key: the value and the broker key it came from, if the
    /// broker sets one.
    pub fn topic_default(&self, def: &TopicConfigDef) -> (Option<String>, Option<&'static str>) {
        for synonym in def.broker_synonyms {
            if let Some(value) = self.explicit.get(*synonym) {
                let value = match (def.name, *synonym) {
                    ("retention.ms", "log.retention.minutes") => scale(value, 60_000),
                    ("retention.ms", "log.retention.hours") | ("segment.ms", "log.roll.hours") => {
                        scale(value, 3_600_000)
                    }
                    _ => value.clone(),
                };
                return (Some(value), Some(synonym));
            }
        }
        (def.default.map(str::to_string), None)
    }

    /// The log configuration of a topic with these overrides (already validated).
    pub fn topic_log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let mut config = self.log_defaults.clone();
        // Overrides were validated when they were set, so a parse failure here cannot happen; the
        // broker default stays in force if it somehow does.
        let _ = apply_topic_overrides(&mut config, overrides);
        config
    }
}

fn scale(value: &str, factor: i64) -> String {
    value.parse::<i64>().map_or_else(
        |_| value.to_string(),
        |v| v.saturating_mul(factor).to_string(),
    )
}

fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType, ConfigError> {
    match value {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(invalid(key, value, "expected CreateTime or LogAppendTime")),
    }
}

/// Checks topic-level overrides (CreateTopics, AlterConfigs) and applies those that shape the log.
pub fn apply_topic_overrides(
    config: &mut LogConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (key, value) in overrides {
        let def = TOPIC_CONFIGS
            .iter()
            .find(|d| d.name == key)
            .ok_or_else(|| ConfigError(format!("unknown topic configuration {key}")))?;
        check_kind(key, value, def.kind)?;
        let long = || value.parse::<i64>().map_err(|e| invalid(key, value, e));
        match key.as_str() {
            "segment.bytes" => config.segment_bytes = positive(key, value, long()?)? as u64,
            "segment.ms" => config.segment_ms = positive(key, value, long()?)?,
            "segment.index.bytes" => {
                config.segment_index_bytes = positive(key, value, long()?)? as usize
            }
            "index.interval.bytes" => config.index_interval_bytes = long()?.max(0) as usize,
            "retention.ms" => config.retention_ms = at_least_minus_one(key, value, long()?)?,
            "retention.bytes" => config.retention_bytes = at_least_minus_one(key, value, long()?)?,
            "max.message.bytes" => config.max_message_bytes = long()?.max(0) as usize,
            "message.timestamp.type" => config.timestamp_type = parse_timestamp_type(key, value)?,
            "min.insync.replicas" => {
                positive(key, value, long()?)?;
            }
            "cleanup.policy" => {
                let policies: Vec<&str> = value.split(',').map(str::trim).collect();
                if policies.iter().any(|p| *p != "delete" && *p != "compact") {
                    return Err(invalid(key, value, "expected delete and/or compact"));
                }
                config.delete_enabled = policies.contains(&"delete");
            }
            _ => {}
        }
    }
    Ok(())
}

fn positive(key: &str, value: &str, v: i64) -> Result<i64, ConfigError> {
    if v <= 0 {
        return Err(invalid(key, value, "must be greater than 0"));
    }
    Ok(v)
}

fn at_least_minus_one(key: &str, value: &str, v: i64) -> Result<i64, ConfigError> {
    if v < -1 {
        return Err(invalid(key, value, "must be -1 or more"));
    }
    Ok(v)
}

fn check_kind(key: &str, value: &str, kind: Kind) -> Result<(), ConfigError> {
    let ok = match kind {
        Kind::Boolean => matches!(value, "true" | "false"),
        Kind::Int => value.parse::<i32>().is_ok(),
        Kind::Short => value.parse::<i16>().is_ok(),
        Kind::Long => value.parse::<i64>().is_ok(),
        Kind::Double => value.parse::<f64>().is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            value,
            format!("expected a value of type {kind:?}"),
        ))
    }
}

/// Typed access to the entries, falling back to Kafka's defaults.
struct Resolver<'a> {
    entries: &'a BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn explicit(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    fn text(&self, key: &str) -> &str {
        self.explicit(key)
            .or_else(|| {
                BROKER_CONFIGS
                    .iter()
                    .find(|d| d.name == key)
                    .and_then(|d| d.default)
            })
            .unwrap_or("")
    }

    fn long(&self, key: &str) -> Result<i64, ConfigError> {
        let v = self.text(key);
        v.parse()
            .map_err(|_| invalid(key, v, "expected a whole number"))
    }

    fn int(&self, key: &str) -> Result<i32, ConfigError> {
        let v = self.text(key);
        v.parse()
            .map_err(|_| invalid(key, v, "expected a whole number that fits 32 bits"))
    }

    fn positive_int(&self, key: &str) -> Result<i32, ConfigError> {
        let n = self.int(key)?;
        positive(key, self.text(key), i64::from(n)).map(|n| n as i32)
    }

    fn non_negative_int(&self, key: &str) -> Result<i32, ConfigError> {
        let n = self.int(key)?;
        if n < 0 {
            return Err(invalid(key, self.text(key), "must be 0 or more"));
        }
        Ok(n)
    }

    fn positive_long(&self, key: &str) -> Result<i64, ConfigError> {
        let n = self.long(key)?;
        positive(key, self.text(key), n)
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match self.text(key) {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(invalid(key, v, "expected true or false")),
        }
    }

    /// The first of `keys` that is set (or has a default), times its unit in milliseconds.
    fn first_ms(&self, keys: &[(&str, i64)]) -> Result<i64, ConfigError> {
        for (key, unit) in keys {
            if self.explicit(key).is_some() {
                let v = self.long(key)?;
                return Ok(if v < 0 { -1 } else { v.saturating_mul(*unit) });
            }
        }
        for (key, unit) in keys {
            if BROKER_CONFIGS
                .iter()
                .any(|d| d.name == *key && d.default.is_some())
            {
                return Ok(self.long(key)?.saturating_mul(*unit));
            }
        }
        Ok(-1)
    }

    fn listeners(&self, key: &str) -> Result<Vec<Listener>, ConfigError> {
        self.text(key)
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Listener::parse(key, l))
            .collect()
    }
}

/// Flattens a TOML document into dotted keys with text values.
pub fn parse_toml(text: &str, origin: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(format!("{origin} is not valid TOML: {e}")))?;
    let mut out = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut out, origin)?;
    Ok(out)
}

fn flatten(
    prefix: &str,
    value: &toml::Value,
    out: &mut BTreeMap<String, String>,
    origin: &str,
) -> Result<(), ConfigError> {
    let text = match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, out, origin)?;
            }
            return Ok(());
        }
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::String(s) => parts.push(s.clone()),
                    toml::Value::Integer(i) => parts.push(i.to_string()),
                    other => {
                        return Err(ConfigError(format!(
                            "{origin}: {prefix} holds an array of {}, expected strings",
                            other.type_str()
                        )));
                    }
                }
            }
            parts.join(",")
        }
    };
    out.insert(prefix.to_string(), text);
    Ok(())
}

/// Parses Java `.properties` text (`key=value` or `key: value` lines, `#`/`!` comments).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line.find(['=', ':']).unwrap_or(line.len());
        let (key, value) = line.split_at(split);
        let value = value.get(1..).unwrap_or("");
        out.insert(key.trim().to_string(), value.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(extra: &str, overrides: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let mut entries = parse_toml(EMBEDDED_DEFAULTS, "defaults").unwrap();
        entries.extend(parse_toml(extra, "test").unwrap());
        for o in overrides {
            let (k, v) = o.split_once('=').unwrap();
            entries.insert(k.to_string(), v.to_string());
        }
        BrokerConfig::from_entries(entries)
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
        assert_eq!(c.log_dir, PathBuf::from("./data"));
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.socket_request_max_bytes, 100 * 1024 * 1024);
        assert_eq!(c.log_defaults, LogConfig::default());
    }

    #[test]
    fn flat_quoted_keys_and_nested_tables_mean_the_same() {
        let flat = load("\"log.dirs\" = \"/var/kafe\"\n\"num.partitions\" = 3", &[]).unwrap();
        let nested = load("log.dirs = \"/var/kafe\"\n[num]\npartitions = 3", &[]).unwrap();
        assert_eq!(flat.log_dir, PathBuf::from("/var/kafe"));
        assert_eq!(nested.log_dir, flat.log_dir);
        assert_eq!(nested.num_partitions, 3);
    }

    #[test]
    fn overrides_win_and_units_resolve_like_kafka() {
        let c = load(
            "\"log.retention.hours\" = 1",
            &["log.segment.bytes=2048", "log.retention.minutes=5"],
        )
        .unwrap();
        assert_eq!(c.log_defaults.segment_bytes, 2048);
        assert_eq!(c.log_defaults.retention_ms, 5 * 60_000);
        let c = load("\"log.retention.hours\" = 1", &[]).unwrap();
        assert_eq!(c.log_defaults.retention_ms, 3_600_000);
        let c = load("\"log.retention.ms\" = -1", &[]).unwrap();
        assert_eq!(c.log_defaults.retention_ms, -1);
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
        assert_eq!(c.log_defaults.retention_ms, 168 * 3_600_000);
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
        let p =
            parse_properties("# c\nnode.id=3\nlog.dirs = /tmp/k\nlisteners: PLAINTEXT://:9093\n\n");
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
        let mut log = LogConfig::default();
        let overrides: BTreeMap<String, String> = [
            ("retention.ms", "1000"),
            ("segment.bytes", "4096"),
            ("message.timestamp.type", "LogAppendTime"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        apply_topic_overrides(&mut log, &overrides).unwrap();
        assert_eq!((log.retention_ms, log.segment_bytes), (1000, 4096));
        assert_eq!(log.timestamp_type, TimestampType::LogAppendTime);
        for (k, v) in [
            ("retention.ms", "soon"),
            ("segment.bytes", "0"),
            ("no.such", "1"),
            ("cleanup.policy", "burn"),
        ] {
            let bad: BTreeMap<String, String> =
                [(k.to_string(), v.to_string())].into_iter().collect();
            assert!(
                apply_topic_overrides(&mut LogConfig::default(), &bad).is_err(),
                "{k}={v}"
            );
        }
    }
}
