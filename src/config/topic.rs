//! A topic's settings: each topic key takes the topic's override, else the first of its broker
//! synonyms the broker sets (scaled into the topic key's unit), else Kafka's default. The same
//! resolution serves broker start-up (a topic with no overrides), CreateTopics validation, the
//! partitions' log settings and DescribeConfigs.

use std::collections::BTreeMap;

use super::keys::{self, Key, TopicKey};
use super::{ConfigError, check_kind, invalid};
use crate::log::{LogConfig, TimestampType};

/// Where a topic key's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The topic's own override.
    Topic,
    /// A broker key set in the broker's configuration.
    Broker(&'static Key),
    /// Kafka's default.
    Default,
}

/// The settings of one topic that kafe acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub log: LogConfig,
    /// In-sync replicas an acks=all write needs (`min.insync.replicas`).
    pub min_insync_replicas: usize,
}

/// The value of `key` for a topic with `overrides` on a broker with `broker` entries.
pub fn value_of(
    key: &TopicKey,
    broker: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> (Option<String>, Origin) {
    if let Some(v) = overrides.get(key.name) {
        return (Some(v.clone()), Origin::Topic);
    }
    for synonym in key.synonyms {
        if let Some(v) = broker.get(synonym.key.name) {
            return (
                Some(keys::scale(v, synonym.unit)),
                Origin::Broker(synonym.key),
            );
        }
    }
    (key.default(), Origin::Default)
}

/// One key's value with the name to blame when it is wrong (the key the value was set under).
struct Value {
    text: String,
    name: &'static str,
}

impl Value {
    fn long(&self) -> Result<i64, ConfigError> {
        self.text
            .parse()
            .map_err(|_| invalid(self.name, &self.text, "expected a whole number"))
    }

    fn positive(&self) -> Result<i64, ConfigError> {
        let v = self.long()?;
        if v <= 0 {
            return Err(invalid(self.name, &self.text, "must be greater than 0"));
        }
        Ok(v)
    }

    fn non_negative(&self) -> Result<i64, ConfigError> {
        let v = self.long()?;
        if v < 0 {
            return Err(invalid(self.name, &self.text, "must be 0 or more"));
        }
        Ok(v)
    }

    /// A limit where -1 means none.
    fn limit(&self) -> Result<i64, ConfigError> {
        let v = self.long()?;
        if v < -1 {
            return Err(invalid(self.name, &self.text, "must be -1 or more"));
        }
        Ok(v)
    }

    fn timestamp_type(&self) -> Result<TimestampType, ConfigError> {
        match self.text.as_str() {
            "CreateTime" => Ok(TimestampType::CreateTime),
            "LogAppendTime" => Ok(TimestampType::LogAppendTime),
            _ => Err(invalid(
                self.name,
                &self.text,
                "expected CreateTime or LogAppendTime",
            )),
        }
    }

    /// `cleanup.policy`: whether `delete` is among the policies.
    fn deletes(&self) -> Result<bool, ConfigError> {
        let policies: Vec<&str> = self.text.split(',').map(str::trim).collect();
        if policies.iter().any(|p| *p != "delete" && *p != "compact") {
            return Err(invalid(
                self.name,
                &self.text,
                "expected delete and/or compact",
            ));
        }
        Ok(policies.contains(&"delete"))
    }
}

/// The settings of a topic with `overrides`: refuses unknown keys and values that do not fit their
/// key, naming the key the bad value was given under.
pub fn resolve(
    broker: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> Result<TopicConfig, ConfigError> {
    for (name, value) in overrides {
        let key = keys::TOPIC_KEYS
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| ConfigError(format!("unknown topic configuration {name}")))?;
        check_kind(name, value, key.kind)?;
    }
    let get = |key: &'static TopicKey| -> Value {
        let (text, origin) = value_of(key, broker, overrides);
        Value {
            text: text.unwrap_or_default(),
            name: match origin {
                Origin::Broker(k) => k.name,
                Origin::Topic | Origin::Default => key.name,
            },
        }
    };
    let log = LogConfig {
        segment_bytes: get(&keys::SEGMENT_BYTES).positive()? as u64,
        segment_ms: get(&keys::SEGMENT_MS).positive()?,
        segment_index_bytes: get(&keys::SEGMENT_INDEX_BYTES).positive()? as usize,
        index_interval_bytes: get(&keys::INDEX_INTERVAL_BYTES).non_negative()? as usize,
        retention_ms: get(&keys::RETENTION_MS).limit()?,
        retention_bytes: get(&keys::RETENTION_BYTES).limit()?,
        max_message_bytes: get(&keys::MAX_MESSAGE_BYTES).non_negative()? as usize,
        timestamp_type: get(&keys::MESSAGE_TIMESTAMP_TYPE).timestamp_type()?,
        delete_enabled: get(&keys::CLEANUP_POLICY).deletes()?,
    };
    Ok(TopicConfig {
        log,
        min_insync_replicas: get(&keys::TOPIC_MIN_INSYNC_REPLICAS).positive()? as usize,
    })
}

/// The log settings of a topic with no overrides on a broker with no settings: Kafka's defaults.
pub fn default_log_config() -> LogConfig {
    resolve(&BTreeMap::new(), &BTreeMap::new())
        .expect("Kafka's defaults are valid")
        .log
}
