//! All partition logs of one data directory (`log.dirs`): loading them at start-up (recovering after
//! an unclean stop), creating and deleting them, the per-directory checkpoint files, the clean
//! shutdown marker, and the periodic work (flushing rolled segments, checkpoints, retention,
//! closing idle files).
//!
//! Directory layout:
//!
//! ```text
//! <data dir>/
//!   .lock                               held (flock) while a broker uses the directory
//!   .kafka_cleanshutdown                present only after a clean stop
//!   recovery-point-offset-checkpoint    per partition: offsets below are fsynced
//!   log-start-offset-checkpoint         per partition: first readable offset
//!   replication-offset-checkpoint       per partition: high watermark
//!   <topic>-<partition>/                one partition log (see `partition_log`)
//!   <topic>-<partition>.<id>-delete/    a deleted partition awaiting removal
//! ```

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use parking_lot::RwLock;
use tracing::{error, info, warn};

use super::checkpoint::{self, TopicPartition, sync_dir};
use super::config::LogConfig;
use super::partition_log::{LoadOptions, Log};

pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";
const LOCK_FILE: &str = ".lock";

/// The directory name of a partition's log.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Splits `<topic>-<partition>` at the last dash.
pub fn parse_partition_dir_name(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    (!topic.is_empty() && partition >= 0).then(|| (topic.to_string(), partition))
}

pub struct LogManager {
    dir: PathBuf,
    logs: RwLock<HashMap<TopicPartition, Arc<Log>>>,
    /// Held for the manager's lifetime: a second broker on the same directory fails to start.
    _lock: Flock<File>,
    previous_shutdown_clean: bool,
}

/// What start-up found.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadSummary {
    pub logs: usize,
    pub clean_shutdown: bool,
}

impl LogManager {
    /// Opens the data directory (creating it if needed) and loads every partition log in it,
    /// recovering them if the previous run did not stop cleanly. `config_for` gives each topic's
    /// log configuration.
    pub fn open(
        dir: &Path,
        config_for: impl Fn(&str) -> LogConfig,
        now_ms: i64,
    ) -> io::Result<LogManager> {
        fs::create_dir_all(dir)?;
        let lock = Flock::lock(
            File::create(dir.join(LOCK_FILE))?,
            FlockArg::LockExclusiveNonblock,
        )
        .map_err(|(_, errno)| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is in use by another broker ({errno})", dir.display()),
            )
        })?;
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        let recovery_points = read_checkpoint_or_warn(&dir.join(RECOVERY_POINT_FILE));
        let start_offsets = read_checkpoint_or_warn(&dir.join(LOG_START_FILE));
        let mut logs = HashMap::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with("-delete") {
                fs::remove_dir_all(entry.path())?;
                continue;
            }
            let Some((topic, partition)) = parse_partition_dir_name(&name) else {
                warn!(dir = %entry.path().display(), "ignoring a directory that is not a partition log");
                continue;
            };
            let key = (topic.clone(), partition);
            let options = LoadOptions {
                recovery_point: recovery_points.get(&key).copied().unwrap_or(0),
                log_start_offset: start_offsets.get(&key).copied(),
                clean_shutdown: clean,
                now_ms,
            };
            let log = Log::open(
                &entry.path(),
                &topic,
                partition,
                config_for(&topic),
                options,
            )?;
            logs.insert(key, Arc::new(log));
        }
        if clean {
            // From here on a crash must be noticed at the next start.
            fs::remove_file(&marker)?;
            sync_dir(dir)?;
        }
        info!(dir = %dir.display(), logs = logs.len(), clean_shutdown = clean, "loaded logs");
        Ok(LogManager {
            dir: dir.to_path_buf(),
            logs: RwLock::new(logs),
            _lock: lock,
            previous_shutdown_clean: clean,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn previous_shutdown_clean(&self) -> bool {
        self.previous_shutdown_clean
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Log>> {
        self.logs
            .read()
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Every log, in no particular order.
    pub fn all(&self) -> Vec<Arc<Log>> {
        self.logs.read().values().cloned().collect()
    }

    /// The partitions that have a log.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.logs.read().keys().cloned().collect()
    }

    /// Returns the log, creating an empty one if there is none.
    pub fn get_or_create(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
        now_ms: i64,
    ) -> io::Result<Arc<Log>> {
        if let Some(log) = self.get(topic, partition) {
            return Ok(log);
        }
        let mut logs = self.logs.write();
        let key = (topic.to_string(), partition);
        if let Some(log) = logs.get(&key) {
            return Ok(Arc::clone(log));
        }
        let dir = self.dir.join(partition_dir_name(topic, partition));
        let log = Arc::new(Log::create(&dir, topic, partition, config, 0, now_ms)?);
        logs.insert(key, Arc::clone(&log));
        Ok(log)
    }

    /// Removes a partition's log: renamed out of the way at once (so the name can be reused), then
    /// its files deleted. Readers holding regions keep them.
    pub fn delete(&self, topic: &str, partition: i32) -> io::Result<()> {
        let Some(log) = self.logs.write().remove(&(topic.to_string(), partition)) else {
            return Ok(());
        };
        let doomed = self.dir.join(format!(
            "{}.{}-delete",
            partition_dir_name(topic, partition),
            uuid::Uuid::new_v4().simple()
        ));
        fs::rename(log.dir(), &doomed)?;
        sync_dir(&self.dir)?;
        fs::remove_dir_all(&doomed)
    }

    /// Writes the recovery point and log start offset checkpoints.
    pub fn write_checkpoints(&self) -> io::Result<()> {
        let logs = self.all();
        checkpoint::write(
            &self.dir.join(RECOVERY_POINT_FILE),
            logs.iter()
                .map(|l| (l.topic(), l.partition(), l.recovery_point())),
        )?;
        self.write_log_start_checkpoint()
    }

    /// Writes the log start offset checkpoint (after DeleteRecords, before answering it).
    pub fn write_log_start_checkpoint(&self) -> io::Result<()> {
        let logs = self.all();
        checkpoint::write(
            &self.dir.join(LOG_START_FILE),
            logs.iter()
                .map(|l| (l.topic(), l.partition(), l.log_start_offset())),
        )
    }

    /// Writes the high watermark checkpoint from `(topic, partition, high watermark)` entries.
    pub fn write_high_watermarks<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, i32, i64)>,
    ) -> io::Result<()> {
        checkpoint::write(&self.dir.join(HIGH_WATERMARK_FILE), entries)
    }

    /// The high watermarks checkpointed by the previous run.
    pub fn read_high_watermarks(&self) -> HashMap<TopicPartition, i64> {
        read_checkpoint_or_warn(&self.dir.join(HIGH_WATERMARK_FILE))
    }

    /// Fsyncs logs that rolled since their last flush, so recovery only ever scans active segments.
    pub fn flush_rolled_logs(&self) {
        for log in self.all() {
            if log.has_unflushed_sealed_segments()
                && let Err(e) = log.flush()
            {
                error!(topic = log.topic(), partition = log.partition(), error = %e, "flush failed");
            }
        }
    }

    /// Applies retention to every log; `upper_bound` gives each log's limit (its high watermark).
    pub fn apply_retention(
        &self,
        now_ms: i64,
        upper_bound: impl Fn(&Log) -> i64,
    ) -> io::Result<()> {
        let mut changed = false;
        for log in self.all() {
            match log.apply_retention(now_ms, upper_bound(&log)) {
                Ok(report) => changed |= report.segments > 0,
                Err(e) => {
                    error!(topic = log.topic(), partition = log.partition(), error = %e, "retention failed")
                }
            }
        }
        if changed {
            self.write_log_start_checkpoint()?;
        }
        Ok(())
    }

    /// Closes files of segments untouched for `idle`.
    pub fn close_idle_files(&self, idle: Duration) {
        for log in self.all() {
            log.close_idle_segments(idle);
        }
    }

    /// Clean stop: fsync and close every log, write the checkpoints, then the clean-shutdown marker.
    pub fn shutdown(&self) -> io::Result<()> {
        for log in self.all() {
            log.close()?;
        }
        self.write_checkpoints()?;
        File::create(self.dir.join(CLEAN_SHUTDOWN_FILE))?.sync_all()?;
        sync_dir(&self.dir)?;
        info!(dir = %self.dir.display(), "logs closed cleanly");
        Ok(())
    }
}

fn read_checkpoint_or_warn(path: &Path) -> HashMap<TopicPartition, i64> {
    checkpoint::read(path).unwrap_or_else(|e| {
        warn!(file = %path.display(), error = %e, "ignoring unreadable checkpoint");
        HashMap::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::testing::batch;

    const T0: i64 = 1_700_000_000_000;

    #[test]
    fn a_directory_survives_clean_and_unclean_restarts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let manager = LogManager::open(
                dir.path(),
                |_| crate::config::topic::default_log_config(),
                T0,
            )
            .unwrap();
            assert!(!manager.previous_shutdown_clean());
            // A second broker cannot take the same directory.
            assert!(
                LogManager::open(
                    dir.path(),
                    |_| crate::config::topic::default_log_config(),
                    T0
                )
                .is_err()
            );
            let log = manager
                .get_or_create("orders", 2, crate::config::topic::default_log_config(), T0)
                .unwrap();
            log.append_as_leader(&batch(0, T0, &[b"a", b"b"]), 0, T0)
                .unwrap();
            log.advance_log_start(1).unwrap();
            manager.shutdown().unwrap();
        }
        assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
        {
            let manager = LogManager::open(
                dir.path(),
                |_| crate::config::topic::default_log_config(),
                T0,
            )
            .unwrap();
            assert!(manager.previous_shutdown_clean());
            assert!(
                !dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
                "marker must go at start-up"
            );
            let log = manager.get("orders", 2).unwrap();
            assert_eq!((log.log_start_offset(), log.log_end_offset()), (1, 2));
            log.append_as_leader(&batch(0, T0, &[b"c"]), 0, T0).unwrap();
            // No shutdown: the next start is unclean.
        }
        let manager = LogManager::open(
            dir.path(),
            |_| crate::config::topic::default_log_config(),
            T0,
        )
        .unwrap();
        assert!(!manager.previous_shutdown_clean());
        let log = manager.get("orders", 2).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (1, 3));
    }

    #[test]
    fn deleting_a_partition_frees_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LogManager::open(
            dir.path(),
            |_| crate::config::topic::default_log_config(),
            T0,
        )
        .unwrap();
        let log = manager
            .get_or_create("t", 0, crate::config::topic::default_log_config(), T0)
            .unwrap();
        log.append_as_leader(&batch(0, T0, &[b"a"]), 0, T0).unwrap();
        manager.delete("t", 0).unwrap();
        assert!(manager.get("t", 0).is_none());
        assert!(!dir.path().join("t-0").exists());
        let again = manager
            .get_or_create("t", 0, crate::config::topic::default_log_config(), T0)
            .unwrap();
        assert_eq!(again.log_end_offset(), 0);
    }

    #[test]
    fn partition_dir_names_round_trip_with_dashes_in_topics() {
        assert_eq!(partition_dir_name("a-b", 3), "a-b-3");
        assert_eq!(
            parse_partition_dir_name("a-b-3"),
            Some(("a-b".to_string(), 3))
        );
        assert_eq!(parse_partition_dir_name("x"), None);
        assert_eq!(parse_partition_dir_name("-3"), None);
        assert_eq!(
            parse_partition_dir_name("t--1"),
            Some(("t-".to_string(), 1))
        );
        assert_eq!(parse_partition_dir_name("t-x"), None);
    }
}
