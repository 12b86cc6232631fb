//! Writes seed inputs for the fuzz targets in `protocol-tests/fuzz`: a whole request frame (header
//! and body, no size prefix) for every API key and version the broker serves, and a few valid
//! record batches.
//!
//! Run: `cargo run --example fuzz_seeds -- protocol-tests/fuzz/corpus`

use std::path::PathBuf;

use kafe::protocol::samples;
use kafe::protocol::versions::SUPPORTED;
use kafe::record::batch::testing::{batch, batch_with_producer};

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "protocol-tests/fuzz/corpus".into()),
    );
    let requests = root.join("decode_request");
    let batches = root.join("validate_batch");
    std::fs::create_dir_all(&requests)?;
    std::fs::create_dir_all(&batches)?;
    let mut count = 0;
    for api in SUPPORTED {
        for version in api.min..=api.max {
            let Some(body) = samples::encoded(api.key as i16, version) else {
                continue;
            };
            let mut frame = Vec::new();
            frame.extend_from_slice(&(api.key as i16).to_be_bytes());
            frame.extend_from_slice(&version.to_be_bytes());
            frame.extend_from_slice(&7i32.to_be_bytes());
            frame.extend_from_slice(&4i16.to_be_bytes());
            frame.extend_from_slice(b"seed");
            if api.key.request_header_version(version) >= 2 {
                frame.push(0);
            }
            frame.extend_from_slice(&body);
            std::fs::write(requests.join(format!("{:?}-v{version}", api.key)), frame)?;
            count += 1;
        }
    }
    std::fs::write(
        batches.join("plain"),
        batch(0, 1_700_000_000_000, &[b"a", b"bb", b"ccc"]),
    )?;
    std::fs::write(
        batches.join("idempotent"),
        batch_with_producer(0, 1_700_000_000_000, &[b"x"], 7, 0, 0),
    )?;
    println!(
        "wrote {count} request seeds and 2 batch seeds under {}",
        root.display()
    );
    Ok(())
}
