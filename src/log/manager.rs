//! All partition logs of this broker, over its log directories (`log.dirs`, plus
//! `metadata.log.dir` when it is apart): locking and identifying the directories, loading their logs
//! at start-up (recovering them after an unclean stop), placing new logs, deleting logs, the
//! per-directory checkpoint files and clean-shutdown marker, the periodic work (flushing rolled
//! segments, checkpoints, retention, closing idle files), and the room kept for the metadata log on
//! a full disk.
//!
//! Directory layout (each log directory):
//!
//! ```text
//! <log dir>/
//!   .lock                               held (flock) while a broker uses the directory
//!   meta.properties                     cluster id, node id, directory id
//!   .kafka_cleanshutdown                present only after a clean stop
//!   recovery-point-offset-checkpoint    per partition: offsets below are fsynced
//!   log-start-offset-checkpoint         per partition: first readable offset
//!   replication-offset-checkpoint       per partition: high watermark
//!   .kafe-ballast                       (metadata directory) space given back on a full disk
//!   <topic>-<partition>/                one partition log (see `partition_log`)
//!   <topic>-<partition>.<id>-delete/    a deleted partition awaiting removal
//! ```
//!
//! A directory that fails (see [`super::dir`]) stays offline: its logs refuse every operation, new
//! logs go to the other directories, and nothing more is written to it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use parking_lot::RwLock;
use tracing::{debug, error, info, warn};

use super::checkpoint::{self, TopicPartition};
use super::config::LogConfig;
use super::dir::{LogDir, StorageEvents};
use super::io::{FileOps, OpenMode, SystemFileOps, Target};
use super::meta_properties;
use super::partition_log::{LoadOptions, Log};

pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";
pub const BALLAST_FILE: &str = ".kafe-ballast";
/// Space the metadata directory keeps in reserve, given back when a metadata write finds the disk
/// full (so that the record that frees space, a topic deletion, can still be written).
pub const BALLAST_BYTES: u64 = 8 * 1024 * 1024;
const LOCK_FILE: &str = ".lock";
/// The internal topic of the cluster metadata log, which lives in the metadata directory.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

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

/// Where the logs live and how files are reached.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `log.dirs`: where partition logs go.
    pub data_dirs: Vec<PathBuf>,
    /// `metadata.log.dir`: where the metadata log goes (may be one of the data directories).
    pub metadata_dir: PathBuf,
    pub node_id: i32,
    /// Whether directories without identity start a new cluster (a single node) or wait for the
    /// quorum's cluster id (a cluster member; see [`LogManager::adopt_cluster_id`]).
    pub new_cluster: bool,
    pub ops: Arc<dyn FileOps>,
}

impl Layout {
    /// One directory for everything, node 0, real files (tests and tools).
    pub fn single(dir: &Path) -> Layout {
        Layout {
            data_dirs: vec![dir.to_path_buf()],
            metadata_dir: dir.to_path_buf(),
            node_id: 0,
            new_cluster: true,
            ops: Arc::new(SystemFileOps),
        }
    }
}

pub struct LogManager {
    /// The data directories, in configuration order.
    data_dirs: Vec<Arc<LogDir>>,
    metadata_dir: Arc<LogDir>,
    /// Every directory: the data directories, then the metadata directory if it is apart.
    all_dirs: Vec<Arc<LogDir>>,
    logs: RwLock<HashMap<TopicPartition, Arc<Log>>>,
    /// Held for the manager's lifetime: a second broker on the same directories fails to start.
    _locks: Vec<Flock<File>>,
    previous_shutdown_clean: bool,
    cluster_id: RwLock<Option<String>>,
    node_id: i32,
    events: Arc<StorageEvents>,
}

/// What start-up found.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadSummary {
    pub logs: usize,
    pub clean_shutdown: bool,
}

fn lock_dir(ops: &dyn FileOps, dir: &Path) -> io::Result<Flock<File>> {
    ops.create_dir_all(dir)?;
    let file = File::create(dir.join(LOCK_FILE))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("{} is in use by another broker ({errno})", dir.display()),
        )
    })
}

/// Whether `dir` holds any partition log.
fn holds_logs(dir: &Path) -> io::Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && entry
                .file_name()
                .to_str()
                .and_then(parse_partition_dir_name)
                .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

impl LogManager {
    /// Locks and identifies every directory (see [`meta_properties`]) and loads every partition log
    /// in them, recovering those of a directory whose previous run did not stop cleanly.
    /// `config_for` gives each topic's log configuration. Blocking.
    pub fn open(
        layout: &Layout,
        config_for: impl Fn(&str) -> LogConfig,
        now_ms: i64,
    ) -> io::Result<LogManager> {
        assert!(!layout.data_dirs.is_empty(), "at least one log directory");
        let ops = layout.ops.as_ref();
        let events = Arc::new(StorageEvents::default());
        let mut paths: Vec<PathBuf> = layout.data_dirs.clone();
        if !paths.contains(&layout.metadata_dir) {
            paths.push(layout.metadata_dir.clone());
        }
        let mut locks = Vec::with_capacity(paths.len());
        for path in &paths {
            locks.push(lock_dir(ops, path)?);
        }
        let path_refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let cluster_id = meta_properties::check_and_format(
            ops,
            &path_refs,
            layout.node_id,
            layout.new_cluster,
            holds_logs,
        )?;
        let all_dirs: Vec<Arc<LogDir>> = paths
            .iter()
            .map(|p| Arc::new(LogDir::new(p, Arc::clone(&layout.ops), Arc::clone(&events))))
            .collect();
        let metadata_dir = all_dirs
            .iter()
            .find(|d| d.path() == layout.metadata_dir)
            .cloned()
            .expect("the metadata directory is among the directories");
        let data_dirs: Vec<Arc<LogDir>> = all_dirs[..layout.data_dirs.len()].to_vec();
        let mut logs: HashMap<TopicPartition, Arc<Log>> = HashMap::new();
        let mut all_clean = true;
        for dir in &all_dirs {
            let is_metadata_dir = Arc::ptr_eq(dir, &metadata_dir);
            let clean = load_dir(dir, is_metadata_dir, &config_for, now_ms, &mut logs)?;
            all_clean &= clean;
        }
        info!(
            dirs = all_dirs.len(),
            logs = logs.len(),
            clean_shutdown = all_clean,
            "loaded logs"
        );
        Ok(LogManager {
            data_dirs,
            metadata_dir,
            all_dirs,
            logs: RwLock::new(logs),
            _locks: locks,
            previous_shutdown_clean: all_clean,
            cluster_id: RwLock::new(cluster_id),
            node_id: layout.node_id,
            events,
        })
    }

    /// The id of the cluster these directories belong to (from `meta.properties`), if they are
    /// formatted.
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id.read().clone()
    }

    /// Formats the directories that are not yet with the quorum's `cluster_id`; refuses if any
    /// belongs to another cluster. Blocking.
    pub fn adopt_cluster_id(&self, cluster_id: &str) -> io::Result<()> {
        let mut known = self.cluster_id.write();
        if known.as_deref() == Some(cluster_id) {
            return Ok(());
        }
        let paths: Vec<&Path> = self.all_dirs.iter().map(|d| d.path()).collect();
        meta_properties::adopt(self.metadata_dir.ops(), &paths, self.node_id, cluster_id)?;
        *known = Some(cluster_id.to_string());
        Ok(())
    }

    /// The first data directory.
    pub fn dir(&self) -> &Path {
        self.data_dirs[0].path()
    }

    pub fn data_dirs(&self) -> &[Arc<LogDir>] {
        &self.data_dirs
    }

    pub fn metadata_dir(&self) -> &Arc<LogDir> {
        &self.metadata_dir
    }

    /// Directory failures are announced here.
    pub fn events(&self) -> &Arc<StorageEvents> {
        &self.events
    }

    /// Directories that have failed, with the cause.
    pub fn offline_dirs(&self) -> Vec<(PathBuf, String)> {
        self.all_dirs
            .iter()
            .filter(|d| !d.is_online())
            .map(|d| (d.path().to_path_buf(), d.failure().unwrap_or_default()))
            .collect()
    }

    /// Whether the broker can go on: the metadata directory and at least one data directory work.
    pub fn can_serve(&self) -> bool {
        self.metadata_dir.is_online() && self.data_dirs.iter().any(|d| d.is_online())
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

    /// The online data directory with the fewest logs (Kafka's placement), or the metadata
    /// directory for the metadata log.
    fn place(&self, topic: &str) -> io::Result<Arc<LogDir>> {
        if topic == METADATA_TOPIC {
            return Ok(Arc::clone(&self.metadata_dir));
        }
        let logs = self.logs.read();
        self.data_dirs
            .iter()
            .filter(|d| d.is_online())
            .min_by_key(|d| {
                logs.values()
                    .filter(|l| Arc::ptr_eq(l.log_dir(), d))
                    .count()
            })
            .cloned()
            .ok_or_else(|| io::Error::other("every log directory is offline"))
    }

    /// Returns the log, creating an empty one if there is none. Blocking.
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
        let dir = self.place(topic)?;
        let mut logs = self.logs.write();
        let key = (topic.to_string(), partition);
        if let Some(log) = logs.get(&key) {
            return Ok(Arc::clone(log));
        }
        let path = dir.path().join(partition_dir_name(topic, partition));
        let log =
            Log::create(dir, &path, topic, partition, config, 0, now_ms).inspect_err(|_| {
                // Leave nothing half made behind. A failed creation removed its files already, so
                // removing the (empty) directory needs no descriptor: it works even when a lack of
                // descriptors is what failed.
                if std::fs::remove_dir(&path).is_err() {
                    let _ = std::fs::remove_dir_all(&path);
                }
            })?;
        let log = Arc::new(log);
        logs.insert(key, Arc::clone(&log));
        Ok(log)
    }

    /// Creates the logs of `partitions` that do not exist yet, all or none: on failure the ones this
    /// call created are removed again and the error is returned. Blocking.
    pub fn create_all(
        &self,
        partitions: &[(String, i32, LogConfig)],
        now_ms: i64,
    ) -> io::Result<()> {
        let mut created: Vec<(String, i32)> = Vec::new();
        for (topic, partition, config) in partitions {
            if self.get(topic, *partition).is_some() {
                continue;
            }
            if let Err(e) = self.get_or_create(topic, *partition, config.clone(), now_ms) {
                for (t, p) in &created {
                    if let Err(undo) = self.discard_new(t, *p) {
                        warn!(topic = %t, partition = p, error = %undo, "could not remove a log of a failed creation");
                    }
                }
                return Err(e);
            }
            created.push((topic.clone(), *partition));
        }
        Ok(())
    }

    /// Removes a log this manager just created and nothing has written to: its segment files and
    /// its directory, with calls that need no file descriptor (so that undoing a creation works
    /// when running out of descriptors is what made it fail).
    fn discard_new(&self, topic: &str, partition: i32) -> io::Result<()> {
        let Some(log) = self.logs.write().remove(&(topic.to_string(), partition)) else {
            return Ok(());
        };
        assert_eq!(
            log.log_end_offset(),
            0,
            "discarding a log that was written to"
        );
        let ops = log.log_dir().ops();
        for suffix in [".log", ".index", ".timeindex"] {
            ops.remove_file(&log.dir().join(super::segment::file_name(0, suffix)))?;
        }
        std::fs::remove_dir(log.dir())
    }

    /// Removes a partition's log: renamed out of the way at once (so the name can be reused), then
    /// its files deleted. Readers holding regions keep them. Blocking.
    pub fn delete(&self, topic: &str, partition: i32) -> io::Result<()> {
        let Some(log) = self.logs.write().remove(&(topic.to_string(), partition)) else {
            return Ok(());
        };
        let dir = log.log_dir();
        let ops = dir.ops();
        let doomed = dir.path().join(format!(
            "{}.{}-delete",
            partition_dir_name(topic, partition),
            uuid::Uuid::new_v4().simple()
        ));
        ops.rename(log.dir(), &doomed)
            .map_err(|e| dir.observe("deleting a partition in", e))?;
        ops.sync_dir(dir.path())
            .map_err(|e| dir.observe("deleting a partition in", e))?;
        ops.remove_dir_all(&doomed)
            .map_err(|e| dir.observe("deleting a partition in", e))
    }

    fn logs_in(&self, dir: &Arc<LogDir>) -> Vec<Arc<Log>> {
        self.logs
            .read()
            .values()
            .filter(|l| Arc::ptr_eq(l.log_dir(), dir))
            .cloned()
            .collect()
    }

    /// Writes the recovery point and log start offset checkpoints of every online directory, and
    /// the leader-epoch checkpoints that changed.
    pub fn write_checkpoints(&self) -> io::Result<()> {
        let mut result = Ok(());
        for log in self.all() {
            if let Err(e) = log.checkpoint_epochs() {
                result = Err(e);
            }
        }
        for dir in self.all_dirs.iter().filter(|d| d.is_online()) {
            let logs = self.logs_in(dir);
            let written = checkpoint::write(
                dir.ops(),
                &dir.path().join(RECOVERY_POINT_FILE),
                logs.iter()
                    .map(|l| (l.topic(), l.partition(), l.recovery_point())),
            )
            .and_then(|()| self.write_log_start_checkpoint_of(dir, &logs));
            if let Err(e) = written {
                result = Err(dir.observe("writing checkpoints in", e));
            }
        }
        result
    }

    fn write_log_start_checkpoint_of(&self, dir: &LogDir, logs: &[Arc<Log>]) -> io::Result<()> {
        checkpoint::write(
            dir.ops(),
            &dir.path().join(LOG_START_FILE),
            logs.iter()
                .map(|l| (l.topic(), l.partition(), l.log_start_offset())),
        )
    }

    /// Writes the log start offset checkpoints (after DeleteRecords, before answering it).
    pub fn write_log_start_checkpoint(&self) -> io::Result<()> {
        let mut result = Ok(());
        for dir in self.all_dirs.iter().filter(|d| d.is_online()) {
            let logs = self.logs_in(dir);
            if let Err(e) = self.write_log_start_checkpoint_of(dir, &logs) {
                result = Err(dir.observe("writing checkpoints in", e));
            }
        }
        result
    }

    /// Writes the high watermark checkpoints from `(topic, partition, high watermark)` entries,
    /// each into the directory of its partition's log.
    pub fn write_high_watermarks<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, i32, i64)>,
    ) -> io::Result<()> {
        let mut by_dir: Vec<Vec<(&'a str, i32, i64)>> = vec![Vec::new(); self.all_dirs.len()];
        for (topic, partition, hw) in entries {
            if let Some(log) = self.get(topic, partition)
                && let Some(i) = self
                    .all_dirs
                    .iter()
                    .position(|d| Arc::ptr_eq(d, log.log_dir()))
            {
                by_dir[i].push((topic, partition, hw));
            }
        }
        let mut result = Ok(());
        for (dir, entries) in self.all_dirs.iter().zip(by_dir) {
            if !dir.is_online() {
                continue;
            }
            if let Err(e) =
                checkpoint::write(dir.ops(), &dir.path().join(HIGH_WATERMARK_FILE), entries)
            {
                result = Err(dir.observe("writing checkpoints in", e));
            }
        }
        result
    }

    /// The high watermarks checkpointed by the previous run.
    pub fn read_high_watermarks(&self) -> HashMap<TopicPartition, i64> {
        let mut all = HashMap::new();
        for dir in &self.all_dirs {
            all.extend(read_checkpoint_or_warn(
                &dir.path().join(HIGH_WATERMARK_FILE),
            ));
        }
        all
    }

    /// Fsyncs logs that rolled since their last flush, so recovery only ever scans active segments.
    pub fn flush_rolled_logs(&self) {
        for log in self.all() {
            if log.log_dir().is_online()
                && log.has_unflushed_sealed_segments()
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
            if !log.log_dir().is_online() {
                continue;
            }
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
            if log.log_dir().is_online() {
                log.close_idle_segments(idle);
            }
        }
    }

    /// Forgets idempotent producers idle for `idle_ms` in every log.
    pub fn expire_producers(&self, now_ms: i64, idle_ms: i64) {
        for log in self.all() {
            log.expire_producers(now_ms, idle_ms);
        }
    }

    /// Keeps [`BALLAST_BYTES`] reserved in the metadata directory while there is room for it.
    /// Blocking.
    pub fn ensure_ballast(&self) {
        let dir = &self.metadata_dir;
        if !dir.is_online() {
            return;
        }
        let path = dir.path().join(BALLAST_FILE);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() >= BALLAST_BYTES) {
            return;
        }
        let made = (|| {
            let file = dir.ops().open(&path, OpenMode::Create)?;
            dir.ops().allocate(
                Target {
                    file: &file,
                    path: &path,
                },
                BALLAST_BYTES,
            )
        })();
        match made {
            Ok(()) => debug!(file = %path.display(), "space reserved for the metadata log"),
            Err(e) => {
                let _ = dir.ops().remove_file(&path);
                debug!(file = %path.display(), error = %e, "no room yet to reserve space for the metadata log");
            }
        }
    }

    /// Gives the metadata directory's reserved space back (a metadata write found the disk full).
    /// Returns whether there was any to give.
    pub fn release_ballast(&self) -> bool {
        let path = self.metadata_dir.path().join(BALLAST_FILE);
        if !path.exists() {
            return false;
        }
        match self.metadata_dir.ops().remove_file(&path) {
            Ok(()) => {
                warn!(dir = %self.metadata_dir.path().display(),
                    "the disk is full: released the space reserved for the metadata log");
                true
            }
            Err(e) => {
                warn!(file = %path.display(), error = %e, "could not release reserved space");
                false
            }
        }
    }

    /// Clean stop: fsync and close every log, write the checkpoints, then the clean-shutdown marker
    /// of each directory where all of that worked. Whatever fails is logged with the file it
    /// concerns and the rest is still done; the error says how many steps failed.
    pub fn shutdown(&self) -> io::Result<()> {
        let mut failed_dirs: HashSet<PathBuf> = HashSet::new();
        let mut failures = 0usize;
        // One fsync of each directory makes every partition directory in it durable, instead of
        // one per log.
        for dir in self.all_dirs.iter().filter(|d| d.is_online()) {
            match dir.ops().sync_dir(dir.path()) {
                Ok(()) => {
                    for log in self.logs_in(dir) {
                        log.mark_parent_synced();
                    }
                }
                Err(e) => {
                    error!(dir = %dir.path().display(), error = %e, "could not fsync a log directory");
                }
            }
        }
        let logs: Vec<Arc<Log>> = self
            .all()
            .into_iter()
            .filter(|l| l.log_dir().is_online())
            .collect();
        for (log, e) in close_all(&logs) {
            error!(log = %log.dir().display(), error = %e, "could not close a log cleanly");
            failed_dirs.insert(log.log_dir().path().to_path_buf());
            failures += 1;
        }
        for dir in &self.all_dirs {
            if !dir.is_online() {
                failures += 1;
                continue;
            }
            let logs = self.logs_in(dir);
            let steps: [(&str, &dyn Fn() -> io::Result<()>); 2] = [
                (RECOVERY_POINT_FILE, &|| {
                    checkpoint::write(
                        dir.ops(),
                        &dir.path().join(RECOVERY_POINT_FILE),
                        logs.iter()
                            .map(|l| (l.topic(), l.partition(), l.recovery_point())),
                    )
                }),
                (LOG_START_FILE, &|| {
                    self.write_log_start_checkpoint_of(dir, &logs)
                }),
            ];
            for (file, step) in steps {
                if let Err(e) = step() {
                    error!(file = %dir.path().join(file).display(), error = %e, "could not write a checkpoint at shutdown");
                    failed_dirs.insert(dir.path().to_path_buf());
                    failures += 1;
                }
            }
            if failed_dirs.contains(dir.path()) {
                continue;
            }
            let marker = dir.path().join(CLEAN_SHUTDOWN_FILE);
            let marked = (|| {
                let file = dir.ops().open(&marker, OpenMode::Create)?;
                dir.ops().sync(Target {
                    file: &file,
                    path: &marker,
                })?;
                dir.ops().sync_dir(dir.path())
            })();
            if let Err(e) = marked {
                error!(file = %marker.display(), error = %e, "could not write the clean-shutdown marker");
                failures += 1;
            }
        }
        if failures > 0 {
            return Err(io::Error::other(format!(
                "{failures} shutdown steps failed (logged above); the next start recovers the logs"
            )));
        }
        info!(dirs = self.all_dirs.len(), "logs closed cleanly");
        Ok(())
    }
}

/// How many logs are closed at once at shutdown: their fsyncs overlap, which a journaling
/// filesystem commits together.
const CLOSING_THREADS: usize = 8;

/// Closes `logs` on a few threads; returns the ones that failed.
fn close_all(logs: &[Arc<Log>]) -> Vec<(Arc<Log>, io::Error)> {
    let failures = parking_lot::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..CLOSING_THREADS.min(logs.len()) {
            scope.spawn(|| {
                while let Some(log) =
                    logs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    if let Err(e) = log.close() {
                        failures.lock().push((Arc::clone(log), e));
                    }
                }
            });
        }
    });
    failures.into_inner()
}

/// Loads the logs of one directory into `logs`; returns whether it had stopped cleanly.
fn load_dir(
    dir: &Arc<LogDir>,
    is_metadata_dir: bool,
    config_for: &impl Fn(&str) -> LogConfig,
    now_ms: i64,
    logs: &mut HashMap<TopicPartition, Arc<Log>>,
) -> io::Result<bool> {
    let ops = dir.ops();
    let marker = dir.path().join(CLEAN_SHUTDOWN_FILE);
    let clean = marker.exists();
    let recovery_points = read_checkpoint_or_warn(&dir.path().join(RECOVERY_POINT_FILE));
    let start_offsets = read_checkpoint_or_warn(&dir.path().join(LOG_START_FILE));
    for entry in std::fs::read_dir(dir.path())? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("-delete") {
            ops.remove_dir_all(&entry.path())?;
            continue;
        }
        let Some((topic, partition)) = parse_partition_dir_name(&name) else {
            warn!(dir = %entry.path().display(), "ignoring a directory that is not a partition log");
            continue;
        };
        if topic == METADATA_TOPIC && !is_metadata_dir {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} holds the metadata log, but metadata.log.dir names another directory",
                    entry.path().display()
                ),
            ));
        }
        let key = (topic.clone(), partition);
        if let Some(other) = logs.get(&key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "partition {topic}-{partition} has logs in both {} and {}",
                    other.dir().display(),
                    entry.path().display()
                ),
            ));
        }
        let options = LoadOptions {
            recovery_point: recovery_points.get(&key).copied().unwrap_or(0),
            log_start_offset: start_offsets.get(&key).copied(),
            clean_shutdown: clean,
            now_ms,
        };
        let log = Log::open(
            Arc::clone(dir),
            &entry.path(),
            &topic,
            partition,
            config_for(&topic),
            options,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", entry.path().display())))?;
        logs.insert(key, Arc::new(log));
    }
    if clean {
        // From here on a crash must be noticed at the next start.
        ops.remove_file(&marker)?;
        ops.sync_dir(dir.path())?;
    }
    Ok(clean)
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
    use crate::config::topic::default_log_config;
    use crate::record::batch::testing::batch;

    const T0: i64 = 1_700_000_000_000;

    fn open(dir: &Path) -> io::Result<LogManager> {
        LogManager::open(&Layout::single(dir), |_| default_log_config(), T0)
    }

    #[test]
    fn a_directory_survives_clean_and_unclean_restarts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let manager = open(dir.path()).unwrap();
            assert!(!manager.previous_shutdown_clean());
            // A second broker cannot take the same directory.
            assert!(open(dir.path()).is_err());
            let log = manager
                .get_or_create("orders", 2, default_log_config(), T0)
                .unwrap();
            log.append_as_leader(&batch(0, T0, &[b"a", b"b"]), 0, T0)
                .unwrap();
            log.advance_log_start(1).unwrap();
            manager.shutdown().unwrap();
        }
        assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
        {
            let manager = open(dir.path()).unwrap();
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
        let manager = open(dir.path()).unwrap();
        assert!(!manager.previous_shutdown_clean());
        let log = manager.get("orders", 2).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (1, 3));
    }

    #[test]
    fn deleting_a_partition_frees_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let manager = open(dir.path()).unwrap();
        let log = manager
            .get_or_create("t", 0, default_log_config(), T0)
            .unwrap();
        log.append_as_leader(&batch(0, T0, &[b"a"]), 0, T0).unwrap();
        manager.delete("t", 0).unwrap();
        assert!(manager.get("t", 0).is_none());
        assert!(!dir.path().join("t-0").exists());
        let again = manager
            .get_or_create("t", 0, default_log_config(), T0)
            .unwrap();
        assert_eq!(again.log_end_offset(), 0);
    }

    #[test]
    fn new_logs_spread_over_directories_and_the_metadata_log_stays_apart() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout {
            data_dirs: vec![root.path().join("a"), root.path().join("b")],
            metadata_dir: root.path().join("m"),
            node_id: 0,
            new_cluster: true,
            ops: Arc::new(SystemFileOps),
        };
        {
            let manager = LogManager::open(&layout, |_| default_log_config(), T0).unwrap();
            for p in 0..4 {
                manager
                    .get_or_create("t", p, default_log_config(), T0)
                    .unwrap();
            }
            manager
                .get_or_create(METADATA_TOPIC, 0, default_log_config(), T0)
                .unwrap();
            manager.shutdown().unwrap();
        }
        let count = |d: &str| {
            std::fs::read_dir(root.path().join(d))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
                .count()
        };
        assert_eq!((count("a"), count("b"), count("m")), (2, 2, 1));
        for d in ["a", "b", "m"] {
            assert!(root.path().join(d).join("meta.properties").exists());
        }
        let manager = LogManager::open(&layout, |_| default_log_config(), T0).unwrap();
        assert_eq!(manager.partitions().len(), 5);
        drop(manager);
        // Moving the metadata directory under the data is refused, not silently ignored.
        let moved = Layout {
            metadata_dir: root.path().join("elsewhere"),
            ..layout.clone()
        };
        std::fs::rename(
            root.path().join("m/__cluster_metadata-0"),
            root.path().join("a/__cluster_metadata-0"),
        )
        .unwrap();
        let err = LogManager::open(&moved, |_| default_log_config(), T0)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("metadata log"), "{err}");
    }

    #[test]
    fn logs_without_an_identity_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("orders-0")).unwrap();
        let err = open(dir.path()).err().expect("refused");
        assert!(err.to_string().contains("meta.properties"), "{err}");
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
