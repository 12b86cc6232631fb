//! One log directory (an entry of `log.dirs`, or `metadata.log.dir`): its path, the file operations
//! its logs use, and its health.
//!
//! A directory goes offline at the first error that makes its files untrustworthy (an I/O error, a
//! failed fsync; see [`super::io::classify`]) and stays offline until the broker restarts, as in
//! Kafka: every log in it refuses reads and writes from then on, so nothing it can no longer keep is
//! acknowledged. The failure is logged once, with its cause, and announced on
//! [`StorageEvents::failed`] so that the broker can decide whether it can go on.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::error;

use super::io::{FileOps, Severity, classify};

/// Announces directory failures to whoever must react (the broker).
#[derive(Debug, Default)]
pub struct StorageEvents {
    pub failed: Notify,
}

#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    ops: Arc<dyn FileOps>,
    online: AtomicBool,
    /// Why the directory went offline.
    cause: Mutex<Option<String>>,
    events: Arc<StorageEvents>,
}

impl LogDir {
    pub fn new(path: &Path, ops: Arc<dyn FileOps>, events: Arc<StorageEvents>) -> LogDir {
        LogDir {
            path: path.to_path_buf(),
            ops,
            online: AtomicBool::new(true),
            cause: Mutex::new(None),
            events,
        }
    }

    /// A directory with real file operations and no one listening for its failures (tools and
    /// tests that open a log on their own).
    pub fn plain(path: &Path) -> Arc<LogDir> {
        Arc::new(LogDir::new(
            path,
            Arc::new(super::io::SystemFileOps),
            Arc::new(StorageEvents::default()),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn ops(&self) -> &dyn FileOps {
        self.ops.as_ref()
    }

    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Why the directory is offline, if it is.
    pub fn failure(&self) -> Option<String> {
        self.cause.lock().clone()
    }

    /// Takes the directory offline because `what` failed with `error`. Logged once.
    pub fn fail(&self, what: &str, error: &io::Error) {
        let mut cause = self.cause.lock();
        if cause.is_some() {
            return;
        }
        let text = format!("{what}: {error}");
        error!(dir = %self.path.display(), cause = %text,
            "log directory failed; it is offline until restart and its partitions answer KAFKA_STORAGE_ERROR");
        *cause = Some(text);
        self.online.store(false, Ordering::Release);
        drop(cause);
        self.events.failed.notify_waiters();
        self.events.failed.notify_one();
    }

    /// Passes `error` through, taking the directory offline first if it is fatal.
    pub fn observe(&self, what: &str, error: io::Error) -> io::Error {
        if classify(&error) == Severity::Fatal {
            self.fail(what, &error);
        }
        error
    }
}
