//! The settings one partition log runs with: the topic-level half of Kafka's configuration
//! (`segment.bytes`, `retention.ms` ...), resolved from broker defaults and topic overrides by the
//! broker's configuration layer (which also holds Kafka's defaults for them).

/// How the timestamps of appended batches are set (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Stamp each batch with the broker's clock on append.
    LogAppendTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll the active segment before it would grow past this (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll the active segment once its first batch is this old (`segment.ms`).
    pub segment_ms: i64,
    /// Preallocated size of each index file (`segment.index.bytes`).
    pub segment_index_bytes: usize,
    /// Bytes appended between two index entries (`index.interval.bytes`).
    pub index_interval_bytes: usize,
    /// Delete segments whose newest record is older than this; -1 keeps them (`retention.ms`).
    pub retention_ms: i64,
    /// Delete old segments while the log is larger than this; -1 means no limit (`retention.bytes`).
    pub retention_bytes: i64,
    /// Largest batch accepted from a producer (`max.message.bytes`).
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub timestamp_type: TimestampType,
    /// Whether `cleanup.policy` includes `delete`: only then do time and size limits remove data.
    pub delete_enabled: bool,
}
