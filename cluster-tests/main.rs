//! Cluster tests: several `kafe` processes on loopback forming one cluster through the metadata
//! quorum, killed with SIGKILL, stopped, restarted, and checked for what a Kafka user relies on:
//! one cluster from any start order, the same picture from every broker, a new controller after
//! the old one dies, nothing lost across a full restart, no change without a majority, and
//! misconfigured nodes refused.
//!
//! Run: `cargo test --test cluster`.

#[path = "../protocol-tests/harness.rs"]
#[allow(dead_code)]
mod harness;

mod clients;
mod cluster;
mod failover;
mod formation;
mod netns;
mod partitions;
#[path = "../protocol-tests/requests.rs"]
#[allow(dead_code)]
mod requests;
