//! The one place configuration is read: broker settings from the embedded defaults, a TOML (or
//! Java `.properties`) file and `--override key=value` flags, all under Kafka's property names with
//! Kafka's defaults; and topic-level settings resolved against the broker's.
//!
//! - [`keys`]: every key, declared once (name, type, Kafka's default, whether kafe uses it).
//! - [`topic`]: a topic's settings from its overrides and the broker's keys.
//! - [`cluster`]: the node's roles, the metadata quorum, listeners by purpose (KRaft's keys).
//! - [`parse`]: TOML and `.properties` text into `key -> text` entries.
//!
//! A TOML file may spell a key quoted and flat (`"log.dirs" = "/var/kafe"`) or as the nested tables
//! TOML makes of dotted keys (`log.dirs = "/var/kafe"`); both mean the same. An invalid value is an
//! error naming the key; an unknown key is a warning, so a pasted `server.properties` still starts.

pub mod cluster;
pub mod keys;
mod parse;
pub mod topic;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use cluster::{ClusterConfig, Roles, Voter};
pub use keys::{Key, Kind, TopicKey, Use};
pub use parse::{parse_properties, parse_toml};
pub use topic::{Origin, TopicConfig};

/// The default configuration `cargo run` starts with.
pub const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");

/// Keys of the embedded defaults that only suit a single node: a configuration that names
/// `controller.quorum.voters` takes Kafka's defaults for them unless it sets them itself.
const SINGLE_NODE_DEFAULTS: &[&str] = &["offsets.topic.replication.factor"];

/// A configuration problem that stops the broker from starting, or refuses a topic override.
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
    /// What clients are told (never a controller listener).
    pub advertised_listeners: Vec<Listener>,
    /// Roles, quorum, listeners by purpose, broker session and election timings.
    pub cluster: ClusterConfig,
    /// Directories holding partition logs (`log.dirs`), at least one, no two alike.
    pub log_dirs: Vec<PathBuf>,
    /// Where the cluster metadata log lives (`metadata.log.dir`, else the first log directory).
    pub metadata_log_dir: PathBuf,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    pub log_retention_check_interval_ms: u64,
    pub log_flush_offset_checkpoint_interval_ms: u64,
    pub producer_id_expiration_ms: i64,
    pub producer_id_expiration_check_interval_ms: u64,
    pub offsets_topic_num_partitions: i32,
    /// Replicas of `__consumer_offsets` (created once that many brokers are live).
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_segment_bytes: i32,
    pub offsets_retention_minutes: i64,
    pub offsets_retention_check_interval_ms: u64,
    pub offset_metadata_max_bytes: usize,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// The settings of a topic without overrides.
    pub topic_defaults: TopicConfig,
    /// Every key given explicitly, with its text value.
    pub explicit: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Loads the embedded defaults, then `file` (if any), then the overrides, in that order.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let mut given = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            let from_file = if path.extension().is_some_and(|e| e == "properties") {
                parse_properties(&text)
            } else {
                parse_toml(&text, &path.display().to_string())?
            };
            given.extend(from_file);
        }
        for item in overrides {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ConfigError(format!("--override {item:?}: expected key=value")))?;
            given.insert(key.trim().to_string(), value.trim().to_string());
        }
        Self::from_given(given)
    }

    /// Resolves the keys `given` by a file and overrides over the embedded defaults.
    pub fn from_given(given: BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        let mut entries = parse_toml(EMBEDDED_DEFAULTS, "embedded defaults")?;
        // The embedded defaults describe a single node; a cluster gets Kafka's defaults for what
        // only makes sense on one node, unless the file or an override sets it.
        if given.contains_key(keys::CONTROLLER_QUORUM_VOTERS.name) {
            for key in SINGLE_NODE_DEFAULTS {
                entries.remove(*key);
            }
        }
        entries.extend(given);
        Self::from_entries(entries)
    }

    /// The embedded defaults alone (tests and tools).
    pub fn embedded() -> BrokerConfig {
        let entries = parse_toml(EMBEDDED_DEFAULTS, "embedded defaults")
            .expect("the embedded defaults are valid TOML");
        Self::from_entries(entries).expect("the embedded defaults are a valid configuration")
    }

    /// Resolves typed settings from `key -> text` entries.
    pub fn from_entries(entries: BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        for name in entries.keys() {
            match keys::BROKER_KEYS.iter().find(|k| k.name == name) {
                None => tracing::warn!(key = %name, "unknown configuration key; ignoring it"),
                Some(k) if k.used == Use::Accepted => {
                    tracing::info!(key = %name, "configuration key accepted but not used by kafe")
                }
                Some(_) => {}
            }
        }
        let r = Resolver { entries: &entries };
        let node_id = match r.explicit(&keys::NODE_ID) {
            Some(_) => r.int(&keys::NODE_ID)?,
            None if r.explicit(&keys::BROKER_ID).is_some() => r.int(&keys::BROKER_ID)?,
            None => r.int(&keys::NODE_ID)?,
        };
        if node_id < 0 {
            return Err(invalid(
                keys::NODE_ID.name,
                &node_id.to_string(),
                "must be 0 or more",
            ));
        }
        let listeners = r.listeners(&keys::LISTENERS)?;
        if listeners.is_empty() {
            return Err(invalid(
                keys::LISTENERS.name,
                "",
                "at least one listener is needed",
            ));
        }
        let explicit_advertised = match r.explicit(&keys::ADVERTISED_LISTENERS) {
            Some(_) => Some(r.listeners(&keys::ADVERTISED_LISTENERS)?),
            None => None,
        };
        let cluster = cluster::resolve(&r, node_id, &listeners, explicit_advertised.as_deref())?;
        let advertised_listeners = explicit_advertised.unwrap_or_else(|| {
            listeners
                .iter()
                .filter(|l| !cluster.is_controller_listener(&l.name))
                .cloned()
                .collect()
        });
        let log_dirs = r.log_dirs()?;
        let metadata_log_dir = r
            .explicit(&keys::METADATA_LOG_DIR)
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map_or_else(|| log_dirs[0].clone(), PathBuf::from);
        let topic_defaults = topic::resolve(&entries, &BTreeMap::new())?;
        let max_session = r.positive_int(&keys::GROUP_MAX_SESSION_TIMEOUT_MS)?;
        let min_session = r.positive_int(&keys::GROUP_MIN_SESSION_TIMEOUT_MS)?;
        if min_session > max_session {
            return Err(invalid(
                keys::GROUP_MIN_SESSION_TIMEOUT_MS.name,
                &min_session.to_string(),
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        Ok(BrokerConfig {
            node_id,
            listeners,
            advertised_listeners,
            cluster,
            log_dirs,
            metadata_log_dir,
            num_partitions: r.positive_int(&keys::NUM_PARTITIONS)?,
            default_replication_factor: r.positive_int(&keys::DEFAULT_REPLICATION_FACTOR)? as i16,
            auto_create_topics_enable: r.bool(&keys::AUTO_CREATE_TOPICS_ENABLE)?,
            delete_topic_enable: r.bool(&keys::DELETE_TOPIC_ENABLE)?,
            socket_request_max_bytes: r.positive_int(&keys::SOCKET_REQUEST_MAX_BYTES)? as usize,
            max_connections: r.positive_int(&keys::MAX_CONNECTIONS)? as usize,
            log_retention_check_interval_ms: r
                .positive_long(&keys::LOG_RETENTION_CHECK_INTERVAL_MS)?
                as u64,
            log_flush_offset_checkpoint_interval_ms: r
                .positive_int(&keys::LOG_FLUSH_OFFSET_CHECKPOINT_INTERVAL_MS)?
                as u64,
            producer_id_expiration_ms: i64::from(r.positive_int(&keys::PRODUCER_ID_EXPIRATION_MS)?),
            producer_id_expiration_check_interval_ms: r
                .positive_int(&keys::PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS)?
                as u64,
            offsets_topic_num_partitions: r.positive_int(&keys::OFFSETS_TOPIC_NUM_PARTITIONS)?,
            offsets_topic_replication_factor: i16::try_from(
                r.positive_int(&keys::OFFSETS_TOPIC_REPLICATION_FACTOR)?,
            )
            .map_err(|_| {
                invalid(
                    keys::OFFSETS_TOPIC_REPLICATION_FACTOR.name,
                    "",
                    "must fit a replication factor",
                )
            })?,
            offsets_topic_segment_bytes: r.positive_int(&keys::OFFSETS_TOPIC_SEGMENT_BYTES)?,
            offsets_retention_minutes: i64::from(r.positive_int(&keys::OFFSETS_RETENTION_MINUTES)?),
            offsets_retention_check_interval_ms: r
                .positive_long(&keys::OFFSETS_RETENTION_CHECK_INTERVAL_MS)?
                as u64,
            offset_metadata_max_bytes: r.non_negative_int(&keys::OFFSET_METADATA_MAX_BYTES)?
                as usize,
            group_initial_rebalance_delay_ms: r
                .non_negative_int(&keys::GROUP_INITIAL_REBALANCE_DELAY_MS)?
                as u64,
            group_min_session_timeout_ms: min_session,
            group_max_session_timeout_ms: max_session,
            topic_defaults,
            explicit: entries,
        })
    }

    /// A broker key's value as text and where it came from (`None` value: null).
    pub fn describe(&self, key: &Key) -> (Option<String>, Source) {
        match self.explicit.get(key.name) {
            Some(v) => (Some(v.clone()), Source::Static),
            None => (key.default.map(str::to_string), Source::Default),
        }
    }

    /// A topic key's value for a topic with `overrides`, and where it came from.
    pub fn describe_topic(
        &self,
        key: &TopicKey,
        overrides: &BTreeMap<String, String>,
    ) -> (Option<String>, Origin) {
        topic::value_of(key, &self.explicit, overrides)
    }

    /// The settings of a topic with these overrides; refuses unknown keys and bad values.
    pub fn topic_config(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, ConfigError> {
        topic::resolve(&self.explicit, overrides)
    }
}

/// Checks that `value` parses as `kind`.
fn check_kind(name: &str, value: &str, kind: Kind) -> Result<(), ConfigError> {
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
            name,
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
    fn explicit(&self, key: &Key) -> Option<&str> {
        self.entries.get(key.name).map(String::as_str)
    }

    fn text(&self, key: &Key) -> &str {
        self.explicit(key).or(key.default).unwrap_or("")
    }

    fn long(&self, key: &Key) -> Result<i64, ConfigError> {
        let v = self.text(key);
        v.parse()
            .map_err(|_| invalid(key.name, v, "expected a whole number"))
    }

    fn int(&self, key: &Key) -> Result<i32, ConfigError> {
        let v = self.text(key);
        v.parse()
            .map_err(|_| invalid(key.name, v, "expected a whole number that fits 32 bits"))
    }

    fn positive_int(&self, key: &Key) -> Result<i32, ConfigError> {
        let n = self.int(key)?;
        if n <= 0 {
            return Err(invalid(key.name, self.text(key), "must be greater than 0"));
        }
        Ok(n)
    }

    fn non_negative_int(&self, key: &Key) -> Result<i32, ConfigError> {
        let n = self.int(key)?;
        if n < 0 {
            return Err(invalid(key.name, self.text(key), "must be 0 or more"));
        }
        Ok(n)
    }

    fn positive_long(&self, key: &Key) -> Result<i64, ConfigError> {
        let n = self.long(key)?;
        if n <= 0 {
            return Err(invalid(key.name, self.text(key), "must be greater than 0"));
        }
        Ok(n)
    }

    fn bool(&self, key: &Key) -> Result<bool, ConfigError> {
        match self.text(key) {
            "true" => Ok(true),
            "false" => Ok(false),
            v => Err(invalid(key.name, v, "expected true or false")),
        }
    }

    fn listeners(&self, key: &Key) -> Result<Vec<Listener>, ConfigError> {
        self.text(key)
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Listener::parse(key.name, l))
            .collect()
    }

    /// `log.dirs`, else `log.dir`: one or more directories, none named twice.
    fn log_dirs(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let (key, text) = match self.explicit(&keys::LOG_DIRS) {
            Some(text) => (&keys::LOG_DIRS, text),
            None => (&keys::LOG_DIR, self.text(&keys::LOG_DIR)),
        };
        let mut dirs: Vec<PathBuf> = Vec::new();
        for dir in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if dirs.contains(&dir) {
                return Err(invalid(key.name, text, "a directory is named twice"));
            }
            dirs.push(dir);
        }
        if dirs.is_empty() {
            return Err(invalid(key.name, text, "no directory given"));
        }
        Ok(dirs)
    }
}

#[cfg(test)]
mod tests;
