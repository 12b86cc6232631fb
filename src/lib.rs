//! kafe: a Kafka-wire-compatible broker.
//!
//! # Layout
//! Layers call only downward; `ARCHITECTURE.md` at the repository root has the picture, the request
//! paths, the invariants and the files on disk.
//! - [`server`]: listeners, connections over any transport (frames, pipelining, in-order replies,
//!   the `sendfile` writer), start-up, storage supervision and shutdown.
//! - [`protocol`]: request headers, the table of supported API versions, decode guards for untrusted
//!   input, the single decode entry point, and the zero-copy Fetch response encoder.
//! - [`api`]: one handler module per API family, the dispatcher, and the connection's session.
//! - [`cluster`]: the controller every metadata change goes through, the metadata image, and the
//!   metadata log it is replayed from.
//! - [`group`]: consumer groups and committed offsets, stored in `__consumer_offsets` through
//!   [`partition`].
//! - [`partition`]: the replica manager (partitions by the image, transitions, lookups) and one
//!   partition's replica state (leader epoch, high watermark, ISR, waiting fetches and produces).
//! - [`log`]: segmented, indexed partition logs over the log directories: recovery, retention,
//!   idempotent-producer state, leader epochs, checkpoints, directory health, injectable file I/O.
//! - [`record`]: record batches and file regions, shared by [`log`] and [`protocol`].
//! - [`config`]: broker and topic configuration under Kafka's property names, each key declared
//!   once.
//! - [`clock`]: the wall clock in milliseconds.

pub mod api;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod group;
pub mod log;
pub mod partition;
pub mod protocol;
pub mod record;
pub mod server;
#[cfg(test)]
mod testing;
