//! The log engine: every partition is an append-only, segmented log on disk that survives crashes,
//! finds any offset or timestamp quickly, and hands out file regions for `sendfile`.
//!
//! It knows the v2 record batch format (from [`crate::record`]) and nothing of the network or of
//! Kafka's APIs.
//!
//! - [`segment`]: one `.log` file with its `.index` ([`offset_index`]) and `.timeindex`
//!   ([`time_index`]), both memory-mapped ([`index_file`]).
//! - [`recovery`]: scanning a segment after an unclean stop and cutting a torn tail.
//! - [`partition_log`]: a partition's run of segments: append, read, lookups, truncation, flush.
//! - [`retention`]: which whole segments time and size limits remove.
//! - [`checkpoint`]: atomic checkpoint files.
//! - [`manager`]: all logs of a data directory, start-up, shutdown and periodic work.

pub mod checkpoint;
pub mod config;
pub mod index_file;
pub mod manager;
pub mod offset_index;
pub mod partition_log;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod time_index;

pub use config::{LogConfig, TimestampType};
pub use manager::LogManager;
pub use partition_log::{AppendInfo, LoadOptions, Log, LogError};
pub use segment::SegmentRead;

#[cfg(test)]
mod tests;
