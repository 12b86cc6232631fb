//! End-to-end load generator: produce and consume through librdkafka against any Kafka-compatible
//! broker, as Kafka users measure Kafka, sampling the broker process for CPU and memory; and a
//! comparison mode that runs the same workload on two brokers in alternating order.
//!
//! Run `cargo bench --bench e2e -- help` for the commands. With no command it starts a kafe broker
//! of its own on a free port and runs a short produce-then-consume workload against it.
//! benches/README.md explains how to compare against another broker.

mod sampler;
mod workload;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use workload::{ProduceOptions, Report};

#[derive(Debug, Parser)]
#[command(about = "Load generator for Kafka-compatible brokers")]
struct Cli {
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Produce to a fresh topic, then consume it back from the beginning.
    Run {
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// The broker's process id, to sample its CPU and memory.
        #[arg(long)]
        pid: Option<u32>,
        #[command(flatten)]
        produce: ProduceOptions,
        /// Skip the consume phase.
        #[arg(long)]
        produce_only: bool,
    },
    /// The same workload on two brokers, alternating A B A B ..., with per-trial and median ratios.
    Compare {
        /// Broker A as HOST:PORT,PID.
        #[arg(long)]
        a: String,
        /// Broker B as HOST:PORT,PID.
        #[arg(long)]
        b: String,
        #[arg(long, default_value_t = 5)]
        trials: usize,
        #[command(flatten)]
        produce: ProduceOptions,
    },
}

fn fresh_topic(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_bits()
    )
}

fn rand_bits() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Produces then consumes on one broker; returns both reports.
fn run_once(
    bootstrap: &str,
    pid: Option<u32>,
    options: &ProduceOptions,
    produce_only: bool,
) -> Result<(Report, Option<Report>), String> {
    let topic = fresh_topic("e2e");
    workload::create_topic(bootstrap, &topic, options.partitions)?;
    let produced = workload::produce(bootstrap, &topic, options, pid)?;
    println!("{}", produced.line("produce"));
    if produce_only {
        return Ok((produced, None));
    }
    let consumed = workload::consume(
        bootstrap,
        &topic,
        options.partitions,
        options.records,
        &options.extra,
        pid,
    )?;
    println!("{}", consumed.line("consume"));
    workload::delete_topic(bootstrap, &topic);
    Ok((produced, Some(consumed)))
}

fn parse_broker(spec: &str) -> Result<(String, Option<u32>), String> {
    match spec.split_once(',') {
        Some((addr, pid)) => Ok((
            addr.to_string(),
            Some(pid.parse().map_err(|_| format!("bad pid in {spec}"))?),
        )),
        None => Ok((spec.to_string(), None)),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn compare(a: &str, b: &str, trials: usize, options: &ProduceOptions) -> Result<(), String> {
    let (a_addr, a_pid) = parse_broker(a)?;
    let (b_addr, b_pid) = parse_broker(b)?;
    let mut ratios: Vec<(f64, f64)> = Vec::new();
    for trial in 1..=trials {
        // Alternate which broker goes first, so drift in the machine's speed hits both alike.
        let order = if trial % 2 == 1 {
            [("A", &a_addr, a_pid), ("B", &b_addr, b_pid)]
        } else {
            [("B", &b_addr, b_pid), ("A", &a_addr, a_pid)]
        };
        let mut results = Vec::new();
        for (name, addr, pid) in order {
            println!("trial {trial}, broker {name} ({addr}):");
            results.push((name, run_once(addr, pid, options, false)?));
        }
        let get = |n: &str| {
            results
                .iter()
                .find(|(name, _)| *name == n)
                .map(|(_, r)| r.clone())
        };
        let (Some((pa, ca)), Some((pb, cb))) = (get("A"), get("B")) else {
            continue;
        };
        let produce_ratio = pa.records_per_second() / pb.records_per_second();
        let consume_ratio = ca.zip(cb).map_or(f64::NAN, |(ca, cb)| {
            ca.records_per_second() / cb.records_per_second()
        });
        println!("trial {trial}: A/B produce {produce_ratio:.2}x, consume {consume_ratio:.2}x");
        ratios.push((produce_ratio, consume_ratio));
    }
    println!(
        "median over {trials} trials: A/B produce {:.2}x, consume {:.2}x",
        median(ratios.iter().map(|r| r.0).collect()),
        median(ratios.iter().map(|r| r.1).collect())
    );
    Ok(())
}

/// A kafe broker of our own on a free port, for the default run.
struct OwnBroker {
    child: Child,
    _dir: tempfile::TempDir,
    address: String,
}

impl OwnBroker {
    fn start() -> Result<OwnBroker, String> {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("broker.log")).map_err(|e| e.to_string())?;
        let child = Command::new(env!("CARGO_BIN_EXE_kafe"))
            .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
            .arg("--override")
            .arg(format!("log.dirs={}", dir.path().join("data").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(dir.path().join("broker.log")).unwrap_or_default();
            if let Some(address) = text
                .lines()
                .filter(|l| l.contains("listening"))
                .find_map(|l| l.split("address=").nth(1))
            {
                return Ok(OwnBroker {
                    child,
                    _dir: dir,
                    address: address.trim().to_string(),
                });
            }
            if Instant::now() > deadline {
                return Err(format!("kafe did not start:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Cmd::Run {
            bootstrap,
            pid,
            produce,
            produce_only,
        }) => run_once(&bootstrap, pid, &produce, produce_only).map(drop),
        Some(Cmd::Compare {
            a,
            b,
            trials,
            produce,
        }) => compare(&a, &b, trials, &produce),
        None => OwnBroker::start().and_then(|broker| {
            let pid = Some(broker.child.id());
            println!(
                "kafe at {} (pid {}), idle RSS {:.1} MB",
                broker.address,
                broker.child.id(),
                sampler::rss_kib(broker.child.id()).unwrap_or(0) as f64 / 1024.0
            );
            for size in [100, 1024] {
                let options = ProduceOptions::parse_default(200_000, size);
                run_once(&broker.address, pid, &options, false)?;
            }
            Ok(())
        }),
    };
    if let Err(e) = result {
        eprintln!("e2e: {e}");
        std::process::exit(1);
    }
}

impl ProduceOptions {
    /// The defaults with `records` records of `size` bytes.
    fn parse_default(records: u64, size: usize) -> ProduceOptions {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            options: ProduceOptions,
        }
        let mut options = Wrapper::parse_from(["e2e"]).options;
        options.records = records;
        options.size = size;
        options
    }
}
