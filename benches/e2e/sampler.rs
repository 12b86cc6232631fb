//! Watching a process while a workload runs: CPU seconds used (user + system) and the peak resident
//! memory from /proc, sampled every 20 ms, and the system calls it makes, counted by `perf stat` on
//! the `raw_syscalls:sys_enter` tracepoint where perf is installed and allowed to trace the process.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Clock ticks per second of /proc/PID/stat times (sysconf(_SC_CLK_TCK); 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) a process has used, or `None` if it cannot be read.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Resident memory in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Counts a process's system calls with `perf stat` until stopped.
struct SyscallCounter {
    perf: Child,
}

impl SyscallCounter {
    /// Starts perf on `pid`; `None` if perf is not installed or exits at once (not permitted).
    fn start(pid: u32) -> Option<SyscallCounter> {
        let mut perf = Command::new("perf")
            .args(["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p"])
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        // perf needs a moment to attach; one that cannot trace the process has exited by then.
        std::thread::sleep(Duration::from_millis(100));
        match perf.try_wait() {
            Ok(None) => Some(SyscallCounter { perf }),
            _ => {
                let _ = perf.kill();
                let _ = perf.wait();
                None
            }
        }
    }

    /// Stops perf (SIGINT makes it print its counts) and returns the number of system calls.
    fn finish(mut self) -> Option<u64> {
        let pid = libc::pid_t::try_from(self.perf.id()).ok()?;
        // SAFETY: kill(2) with a pid of a child we spawned and have not yet waited for.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
        let mut output = String::new();
        self.perf.stderr.take()?.read_to_string(&mut output).ok()?;
        let _ = self.perf.wait();
        // CSV lines: value,unit,event,...
        output.lines().find_map(|line| {
            let mut fields = line.split(',');
            let value = fields.next()?;
            let event = fields.nth(1)?;
            (event == "raw_syscalls:sys_enter")
                .then(|| value.parse().ok())
                .flatten()
        })
    }
}

/// Samples a process until stopped.
pub struct Sampler {
    pid: u32,
    syscalls: Option<SyscallCounter>,
    cpu_start: f64,
    peak_rss: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What a sampler saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    /// System calls made, where perf could count them.
    pub syscalls: Option<u64>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let peak_rss = Arc::new(AtomicU64::new(rss_kib(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak_rss), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = rss_kib(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Sampler {
            pid,
            syscalls: SyscallCounter::start(pid),
            cpu_start: cpu_seconds(pid).unwrap_or(0.0),
            peak_rss,
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(rss) = rss_kib(self.pid) {
            self.peak_rss.fetch_max(rss, Ordering::Relaxed);
        }
        Usage {
            cpu_seconds: cpu_seconds(self.pid).unwrap_or(self.cpu_start) - self.cpu_start,
            peak_rss_kib: self.peak_rss.load(Ordering::Relaxed),
            syscalls: self.syscalls.take().and_then(SyscallCounter::finish),
        }
    }
}
