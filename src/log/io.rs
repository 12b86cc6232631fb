//! The file operations the log makes, behind one small trait ([`FileOps`]) so that tests can fail
//! any of them on purpose ([`FaultInjector`]) and the log's answers to a full disk, an I/O error or
//! a failed fsync can be proven rather than hoped for.
//!
//! Everything the log writes, reads, grows, shrinks, syncs, renames or deletes goes through here;
//! only memory-mapped index pages and directory listings at start-up bypass it. Each call names the
//! path it works on, so a fault can target one file, one partition or one directory.
//!
//! [`classify`] sorts the errors: a full disk is a condition the broker waits out, a process out of
//! descriptors or memory is one it retries, anything else means the directory can no longer be
//! trusted.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only.
    Read,
    /// Read and write an existing file.
    ReadWrite,
    /// Read and write, creating the file or emptying an existing one.
    Create,
}

/// A file the log works on: the open handle and the path it was opened by.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub file: &'a File,
    pub path: &'a Path,
}

/// The calls the log makes on files and directories.
pub trait FileOps: Send + Sync + std::fmt::Debug {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File>;
    /// Writes all of `parts`, in order, at `position`.
    fn write_at(&self, target: Target<'_>, parts: &[&[u8]], position: u64) -> io::Result<()>;
    /// Fills `buf` from `position`; fewer bytes than asked is an error.
    fn read_at(&self, target: Target<'_>, buf: &mut [u8], position: u64) -> io::Result<()>;
    fn set_len(&self, target: Target<'_>, len: u64) -> io::Result<()>;
    /// Allocates disk blocks for the first `len` bytes (growing the file to `len` if shorter), so
    /// that writing them later, even through a memory map, cannot fail for lack of space.
    fn allocate(&self, target: Target<'_>, len: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync(&self, target: Target<'_>) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file; one that is already gone is not an error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
}

/// The real thing: system calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemFileOps;

impl FileOps for SystemFileOps {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true);
        match mode {
            OpenMode::Read => {}
            OpenMode::ReadWrite => {
                options.write(true);
            }
            OpenMode::Create => {
                options.write(true).create(true).truncate(true);
            }
        }
        options.open(path)
    }

    fn write_at(&self, target: Target<'_>, parts: &[&[u8]], mut position: u64) -> io::Result<()> {
        let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
        let mut first = 0;
        while first < parts.len() {
            let slices: Vec<IoSlice<'_>> = parts[first..].iter().map(|p| IoSlice::new(p)).collect();
            let written = match nix::sys::uio::pwritev(target.file, &slices, position as i64) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "pwritev wrote nothing",
                    ));
                }
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            position += written as u64;
            let mut left = written;
            while first < parts.len() && left >= parts[first].len() {
                left -= parts[first].len();
                first += 1;
            }
            if left > 0 {
                parts[first] = &parts[first][left..];
            }
        }
        Ok(())
    }

    fn read_at(&self, target: Target<'_>, buf: &mut [u8], position: u64) -> io::Result<()> {
        target.file.read_exact_at(buf, position)
    }

    fn set_len(&self, target: Target<'_>, len: u64) -> io::Result<()> {
        target.file.set_len(len)
    }

    fn allocate(&self, target: Target<'_>, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        // posix_fallocate falls back to writing zeros where the filesystem cannot allocate.
        loop {
            match nix::fcntl::posix_fallocate(target.file, 0, len as i64) {
                Ok(()) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn sync(&self, target: Target<'_>) -> io::Result<()> {
        target.file.sync_data()
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// What a failed file operation means for the directory it happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// No space (or quota) left: writes fail until space returns; nothing already written is in
    /// doubt.
    Full,
    /// The process is out of descriptors or memory: retry later.
    Exhausted,
    /// The directory can no longer be trusted (EIO, a failed fsync, a read-only filesystem, a file
    /// that vanished): it goes offline.
    Fatal,
}

/// An error the log itself judged fatal whatever its errno (a failed fsync, a write it could not
/// take back), carried inside an `io::Error`.
#[derive(Debug)]
pub struct FatalIo(pub String);

impl std::fmt::Display for FatalIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FatalIo {}

/// Wraps `error` so that [`classify`] calls it fatal.
pub fn fatal(what: impl std::fmt::Display, error: &io::Error) -> io::Error {
    io::Error::other(FatalIo(format!("{what}: {error}")))
}

/// Sorts an error of a file operation.
pub fn classify(error: &io::Error) -> Severity {
    if error.get_ref().is_some_and(|e| e.is::<FatalIo>()) {
        return Severity::Fatal;
    }
    match error.raw_os_error() {
        Some(libc_errno::ENOSPC | libc_errno::EDQUOT) => Severity::Full,
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOMEM) => Severity::Exhausted,
        _ if error.kind() == io::ErrorKind::StorageFull => Severity::Full,
        _ => Severity::Fatal,
    }
}

/// The errno values [`classify`] looks at (the same on every Linux architecture).
mod libc_errno {
    pub const ENOMEM: i32 = nix::errno::Errno::ENOMEM as i32;
    pub const EMFILE: i32 = nix::errno::Errno::EMFILE as i32;
    pub const ENFILE: i32 = nix::errno::Errno::ENFILE as i32;
    pub const ENOSPC: i32 = nix::errno::Errno::ENOSPC as i32;
    pub const EDQUOT: i32 = nix::errno::Errno::EDQUOT as i32;
}

/// Replaces the file at `path` with `bytes` atomically and durably: a fsynced `<path>.tmp`, renamed
/// over the old file, then the directory fsynced. A crash leaves the old or the new file, never a
/// mix; a failure leaves the old file and no temp file.
pub fn write_file_atomically(ops: &dyn FileOps, path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_file(ops, path, bytes, true)
}

/// Replaces the file at `path` with `bytes` through a temp file and a rename; with `durable`, the
/// temp file and the directory are fsynced as well. Without it a crash may leave the file empty or
/// short, so only files whose readers check them (a CRC) and can do without them are written so.
pub fn replace_file(ops: &dyn FileOps, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let file = ops.open(&tmp, OpenMode::Create)?;
        let target = Target {
            file: &file,
            path: &tmp,
        };
        ops.write_at(target, &[bytes], 0)?;
        if durable {
            ops.sync(target)?;
        }
        ops.rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = ops.remove_file(&tmp);
        return Err(e);
    }
    if durable {
        ops.sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// Reads a whole small file through `ops` (checkpoints, snapshots); `None` if it does not exist.
/// Files larger than `max_len` are refused before anything is allocated.
pub fn read_small_file(
    ops: &dyn FileOps,
    path: &Path,
    max_len: u64,
) -> io::Result<Option<Vec<u8>>> {
    let file = match ops.open(path, OpenMode::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len > max_len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has {len} bytes, more than the {max_len} expected",
                path.display()
            ),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    ops.read_at(Target { file: &file, path }, &mut buf, 0)?;
    Ok(Some(buf))
}

/// An operation [`FaultInjector`] can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Open,
    Write,
    Read,
    SetLen,
    Allocate,
    Sync,
    SyncDir,
    CreateDir,
    Rename,
    Remove,
}

/// One planned fault.
#[derive(Debug, Clone)]
struct Rule {
    op: Op,
    /// Applies to paths containing this text.
    path_contains: String,
    /// The errno to fail with, or none to only delay or hold.
    errno: Option<nix::errno::Errno>,
    delay: Duration,
    /// Wait until [`FaultInjector::release`] before going on.
    hold: bool,
    /// How many more times it fires (`None`: until cleared).
    remaining: Option<usize>,
}

/// [`FileOps`] that fails (or slows) chosen operations on chosen paths and otherwise does the real
/// thing. For tests: a full disk, a dying disk, a failed fsync, a slow open.
#[derive(Debug, Default)]
pub struct FaultInjector {
    inner: SystemFileOps,
    rules: Mutex<Vec<Rule>>,
    /// Operations waiting in a hold, and whether the holds were released.
    holds: Mutex<(usize, bool)>,
    released: parking_lot::Condvar,
}

impl FaultInjector {
    pub fn new() -> Arc<FaultInjector> {
        Arc::new(FaultInjector::default())
    }

    /// A rule for `op` on paths containing `path_contains` that does nothing yet.
    fn rule(op: Op, path_contains: &str) -> Rule {
        Rule {
            op,
            path_contains: path_contains.to_string(),
            errno: None,
            delay: Duration::ZERO,
            hold: false,
            remaining: None,
        }
    }

    /// Fails `op` on paths containing `path_contains` with `errno`, `times` times (`None`: always).
    pub fn fail(
        &self,
        op: Op,
        path_contains: &str,
        errno: nix::errno::Errno,
        times: Option<usize>,
    ) {
        self.rules.lock().push(Rule {
            errno: Some(errno),
            remaining: times,
            ..Self::rule(op, path_contains)
        });
    }

    /// Makes `op` on paths containing `path_contains` take `delay` longer, until cleared.
    pub fn delay(&self, op: Op, path_contains: &str, delay: Duration) {
        self.rules.lock().push(Rule {
            delay,
            ..Self::rule(op, path_contains)
        });
    }

    /// Makes `op` on paths containing `path_contains` wait until [`FaultInjector::release`].
    pub fn hold(&self, op: Op, path_contains: &str) {
        self.holds.lock().1 = false;
        self.rules.lock().push(Rule {
            hold: true,
            ..Self::rule(op, path_contains)
        });
    }

    /// How many operations are waiting in a hold now.
    pub fn held(&self) -> usize {
        self.holds.lock().0
    }

    /// Lets every held operation go on, and removes the holds.
    pub fn release(&self) {
        self.rules.lock().retain(|r| !r.hold);
        self.holds.lock().1 = true;
        self.released.notify_all();
    }

    /// Removes every planned fault (and releases holds).
    pub fn clear(&self) {
        self.release();
        self.rules.lock().clear();
    }

    fn check(&self, op: Op, path: &Path) -> io::Result<()> {
        let (delay, errno, hold) = {
            let mut rules = self.rules.lock();
            let path = path.to_string_lossy();
            let Some(rule) = rules
                .iter_mut()
                .find(|r| r.op == op && path.contains(&r.path_contains) && r.remaining != Some(0))
            else {
                return Ok(());
            };
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            (rule.delay, rule.errno, rule.hold)
        };
        if hold {
            let mut holds = self.holds.lock();
            holds.0 += 1;
            while !holds.1 {
                self.released.wait(&mut holds);
            }
            holds.0 -= 1;
        }
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        match errno {
            Some(errno) => Err(io::Error::from_raw_os_error(errno as i32)),
            None => Ok(()),
        }
    }
}

impl FileOps for FaultInjector {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        self.check(Op::Open, path)?;
        self.inner.open(path, mode)
    }

    fn write_at(&self, target: Target<'_>, parts: &[&[u8]], position: u64) -> io::Result<()> {
        self.check(Op::Write, target.path)?;
        self.inner.write_at(target, parts, position)
    }

    fn read_at(&self, target: Target<'_>, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.check(Op::Read, target.path)?;
        self.inner.read_at(target, buf, position)
    }

    fn set_len(&self, target: Target<'_>, len: u64) -> io::Result<()> {
        self.check(Op::SetLen, target.path)?;
        self.inner.set_len(target, len)
    }

    fn allocate(&self, target: Target<'_>, len: u64) -> io::Result<()> {
        self.check(Op::Allocate, target.path)?;
        self.inner.allocate(target, len)
    }

    fn sync(&self, target: Target<'_>) -> io::Result<()> {
        self.check(Op::Sync, target.path)?;
        self.inner.sync(target)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(Op::SyncDir, dir)?;
        self.inner.sync_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.check(Op::CreateDir, dir)?;
        self.inner.create_dir_all(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(Op::Rename, from)?;
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check(Op::Remove, path)?;
        self.inner.remove_file(path)
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.check(Op::Remove, dir)?;
        self.inner.remove_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn errors_are_sorted_by_what_they_mean_for_the_directory() {
        assert_eq!(
            classify(&io::Error::from_raw_os_error(Errno::ENOSPC as i32)),
            Severity::Full
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(Errno::EDQUOT as i32)),
            Severity::Full
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(Errno::EMFILE as i32)),
            Severity::Exhausted
        );
        assert_eq!(
            classify(&io::Error::from_raw_os_error(Errno::EIO as i32)),
            Severity::Fatal
        );
        let enospc = io::Error::from_raw_os_error(Errno::ENOSPC as i32);
        assert_eq!(classify(&fatal("fsync", &enospc)), Severity::Fatal);
    }

    #[test]
    fn faults_hit_only_their_operation_and_path_and_run_out() {
        let dir = tempfile::tempdir().unwrap();
        let faults = FaultInjector::new();
        faults.fail(Op::Write, "victim", Errno::EIO, Some(1));
        let victim = dir.path().join("victim.log");
        let other = dir.path().join("other.log");
        for path in [&victim, &other] {
            let file = faults.open(path, OpenMode::Create).unwrap();
            let result = faults.write_at(Target { file: &file, path }, &[b"ab", b"c"], 0);
            assert_eq!(result.is_err(), path == &victim);
        }
        // The one planned failure is spent: the same write now works.
        let file = faults.open(&victim, OpenMode::ReadWrite).unwrap();
        let target = Target {
            file: &file,
            path: &victim,
        };
        faults.write_at(target, &[b"ab", b"c"], 0).unwrap();
        let mut back = [0u8; 3];
        faults.read_at(target, &mut back, 0).unwrap();
        assert_eq!(&back, b"abc");
    }

    #[test]
    fn atomic_writes_leave_the_old_file_when_they_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        let faults = FaultInjector::new();
        write_file_atomically(faults.as_ref(), &path, b"old").unwrap();
        faults.fail(Op::Sync, "checkpoint", Errno::ENOSPC, None);
        assert!(write_file_atomically(faults.as_ref(), &path, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!path.with_extension("tmp").exists());
        faults.clear();
        write_file_atomically(faults.as_ref(), &path, b"new").unwrap();
        assert_eq!(
            read_small_file(faults.as_ref(), &path, 16)
                .unwrap()
                .unwrap(),
            b"new"
        );
        assert!(read_small_file(faults.as_ref(), &path, 2).is_err());
    }
}
