//! The log engine: every partition is an append-only, segmented log on disk that survives crashes,
//! finds any offset or timestamp quickly, and hands out file regions for `sendfile`.
//!
//! It knows the v2 record batch format (from [`crate::record`]) and nothing of the network or of
//! Kafka's APIs.
//!
//! - [`io`]: the file operations the log makes, behind a trait tests can fail on purpose.
//! - [`dir`]: one log directory and its health (offline after an I/O error, until restart).
//! - [`segment`]: one `.log` file with its `.index` ([`offset_index`]) and `.timeindex`
//!   ([`time_index`]), both memory-mapped ([`index_file`]) and grown in allocated steps.
//! - [`recovery`]: scanning a segment after an unclean stop and cutting a torn tail.
//! - [`partition_log`]: a partition's run of segments: append, read, lookups, truncation, flush;
//!   slow file work kept off the async runtime and outside the log's lock. Loading is in `load`.
//! - [`producer_state`]: idempotent producers' sequences, snapshotted beside the segments.
//! - [`leader_epoch`]: the leader-epoch cache (`leader-epoch-checkpoint`).
//! - [`retention`]: which whole segments time and size limits remove.
//! - [`checkpoint`]: atomic checkpoint files.
//! - [`meta_properties`]: the identity of a log directory.
//! - [`manager`]: all logs over the log directories, start-up, shutdown and periodic work.

pub mod checkpoint;
pub mod config;
pub mod dir;
pub mod index_file;
pub mod io;
pub mod leader_epoch;
mod load;
pub mod manager;
pub mod meta_properties;
pub mod offset_index;
pub mod partition_log;
pub mod producer_state;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod time_index;

pub use config::{LogConfig, TimestampType};
pub use dir::LogDir;
pub use manager::{Layout, LogManager};
pub use partition_log::{AppendInfo, LoadOptions, Log, LogError};
pub use segment::SegmentRead;

#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod tests;
