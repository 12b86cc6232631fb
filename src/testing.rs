//! Helpers shared by the crate's unit tests.

use std::path::Path;
use std::sync::Arc;

use crate::log::{Layout, LogManager};

/// The time the tests pretend it is.
pub const T0: i64 = 1_700_000_000_000;

/// A log manager over one directory, with Kafka's default log settings.
pub fn logs(dir: &Path) -> Arc<LogManager> {
    Arc::new(
        LogManager::open(
            &Layout::single(dir),
            |_| crate::config::topic::default_log_config(),
            T0,
        )
        .expect("open the log directory"),
    )
}
