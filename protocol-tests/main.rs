//! Wire-level tests: raw Kafka frames over TCP against a real `kafe` process, for every supported
//! API and version range, plus hostile input and crash recovery.
//!
//! Run: `cargo test --test protocol`.

mod admin;
mod api_versions;
mod durability;
mod groups;
mod harness;
mod hostile;
mod produce_fetch;
mod requests;
mod state;
mod storage;
