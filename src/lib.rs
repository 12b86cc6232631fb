//! kafe: a Kafka-wire-compatible broker.
//!
//! # Layout
//! Layers call only downward:
//! - [`log`]: segmented, indexed partition logs on disk, recovery, retention, checkpoints.
//! - [`protocol`]: request framing helpers and decode guards for untrusted input.

pub mod log;
pub mod protocol;
