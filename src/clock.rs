//! The wall clock, in the unit Kafka uses everywhere: milliseconds since the Unix epoch. Layers
//! that decide by time take `now_ms` as a parameter where tests need to control it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
