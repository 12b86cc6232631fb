//! kafe: a Kafka-wire-compatible broker.
//!
//! # Layout
//! Layers call only downward:
//! - [`log`]: segmented, indexed partition logs on disk, recovery, retention, checkpoints.
//! - [`protocol`]: request framing helpers and decode guards for untrusted input.

pub mod api;
pub mod cluster;
pub mod config;
pub mod group;
pub mod log;
pub mod partition;
pub mod protocol;
pub mod server;
