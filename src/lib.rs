//! kafe: a Kafka-wire-compatible broker.
//!
//! # Layout
//! Layers call only downward (the picture is `ARCHITECTURE.md` in the shared design notes):
//! - [`server`]: listeners, connections (frames, pipelining, in-order replies), the `sendfile`
//!   response writer, start-up and graceful shutdown.
//! - [`protocol`]: request headers, the table of supported API versions, decode guards for untrusted
//!   input, the single decode entry point, and the zero-copy Fetch response encoder.
//! - [`api`]: one handler module per API family and the dispatcher.
//! - [`group`]: consumer groups and committed offsets, stored in `__consumer_offsets` through
//!   [`partition`].
//! - [`partition`]: one partition's replica state (leader epoch, high watermark, ISR, idempotent
//!   producers, waiting fetches and acks=all produces) over its log.
//! - [`log`]: segmented, indexed partition logs on disk, record-batch validation and patching,
//!   recovery, retention, checkpoints.
//! - [`cluster`]: the metadata image and the metadata log it is replayed from.
//! - [`config`]: broker and topic configuration under Kafka's property names.

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
