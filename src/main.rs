//! The `kafe` command: parse flags, load configuration, run the broker until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kafe::config::BrokerConfig;
use tracing::error;
use tracing_subscriber::EnvFilter;

/// A Kafka-wire-compatible broker.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file: TOML with Kafka's property names (or a `.properties` file).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sets one configuration key, after the file (repeatable), as Kafka's start script does.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            // openraft narrates every step at INFO and repeats every unreachable peer at ERROR
            // twice a second; kafe logs the quorum's events that matter itself (leader changes,
            // storage failures). RUST_LOG=openraft=info brings openraft's own account back.
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,openraft=off")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let config = match BrokerConfig::load(args.config.as_deref(), &args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafe: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kafe: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            eprintln!("kafe: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Caps glibc's malloc arenas at two. Blocking file work runs on threads that come and go, and
/// without a cap each may get an arena of its own that keeps freed memory (a megabyte or two of
/// resident memory for nothing on this broker's scale).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let broker = kafe::server::start(config).await?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        reason = broker.failed() => {
            broker.halt(&reason).await;
            anyhow::bail!("stopped: {reason}");
        }
    }
    broker.shutdown().await
}
