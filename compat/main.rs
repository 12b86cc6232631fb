//! Compatibility: real Kafka clients over real TCP against a `kafe` process started by each test.
//!
//! kcat (Debian's, librdkafka 2.0.2), the `rdkafka` crate (librdkafka 2.12), confluent-kafka,
//! kafka-python and aiokafka (PyPI) and kafkajs (npm). `compat/setup.sh` installs the non-Rust
//! clients; the test command in the README runs it first. A missing client fails its test.
//!
//! Run: `cargo test --test compat`.

#[path = "../protocol-tests/harness.rs"]
#[allow(dead_code)]
mod harness;
mod kcat;
mod kill_loop;
mod rdkafka_client;
mod scripts;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command`, failing the test with its output unless it exits 0.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e} (run compat/setup.sh)"));
    assert!(
        output.status.success(),
        "{command:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
