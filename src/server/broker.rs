//! Start-up, the accept loops, periodic maintenance and graceful shutdown of the whole broker.
//!
//! Start-up: open the data directory (recovering logs after an unclean stop), replay the metadata
//! log, create the hosted partitions, bind the listeners. Shutdown (SIGTERM/SIGINT or
//! [`Broker::shutdown`]): stop accepting, let connections finish what is in flight, then fsync and
//! close every log, write the checkpoints and the clean-shutdown marker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use super::connection;
use crate::api::{self, Context, now_ms};
use crate::cluster::{BrokerInfo, MetadataStore};
use crate::config::BrokerConfig;
use crate::group::coordinator::{CoordinatorConfig, GroupCoordinator};
use crate::group::state::GroupConfig;
use crate::group::store::OFFSETS_TOPIC;
use crate::group::store::OffsetsPartitions;
use crate::log::io::{FileOps, SystemFileOps};
use crate::log::{Layout, LogManager};
use crate::partition::ReplicaManager;

/// How long connections get to finish in-flight requests at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A `__consumer_offsets` partition is compacted once its log reaches this size (and four times
/// its previous compacted size).
const OFFSETS_COMPACTION_MIN_BYTES: u64 = 16 * 1024 * 1024;
/// How often offsets partitions are checked for compaction.
const OFFSETS_COMPACTION_CHECK: Duration = Duration::from_secs(30);
/// How often group deadlines (sessions, join and sync phases) are checked.
const GROUP_TICK: Duration = Duration::from_millis(100);
/// Segment files untouched this long are closed.
const IDLE_FILE_TIMEOUT: Duration = Duration::from_secs(300);

/// A running broker.
pub struct Broker {
    ctx: Arc<Context>,
    addresses: Vec<SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Binds the listeners, opens storage and metadata, and starts serving.
///
/// A listener on port 0 gets a free port from the system; when the advertised listener of the same
/// name also says port 0 (as when `advertised.listeners` is not set), the bound port is advertised.
pub async fn start(config: BrokerConfig) -> anyhow::Result<Broker> {
    start_with(config, Arc::new(SystemFileOps)).await
}

/// [`start`] with the log's file operations given, so tests can fail them on purpose.
pub async fn start_with(mut config: BrokerConfig, ops: Arc<dyn FileOps>) -> anyhow::Result<Broker> {
    let mut sockets = Vec::new();
    for listener in &config.listeners {
        let bind = format!("{}:{}", listener.host, listener.port);
        let socket = TcpListener::bind(&bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        sockets.push((listener.name.clone(), socket));
    }
    for advertised in &mut config.advertised_listeners {
        if advertised.port == 0
            && let Some((_, socket)) = sockets.iter().find(|(name, _)| *name == advertised.name)
        {
            advertised.port = socket.local_addr()?.port();
        }
    }
    let config = Arc::new(config);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ctx = {
        let config = Arc::clone(&config);
        let shutdown_rx = shutdown_rx.clone();
        tokio::task::spawn_blocking(move || open_storage(config, ops, shutdown_rx)).await??
    };
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let mut tasks = JoinSet::new();
    let mut addresses = Vec::new();
    for (name, socket) in sockets {
        let address = socket.local_addr()?;
        info!(listener = %name, %address, "listening");
        addresses.push(address);
        tasks.spawn(accept_loop(
            socket,
            Arc::clone(&ctx),
            Arc::clone(&permits),
            shutdown_rx.clone(),
        ));
    }
    tasks.spawn(maintenance(Arc::clone(&ctx), shutdown_rx));
    Ok(Broker {
        ctx,
        addresses,
        shutdown_tx,
        tasks,
    })
}

fn open_storage(
    config: Arc<BrokerConfig>,
    ops: Arc<dyn FileOps>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Arc<Context>> {
    let now = now_ms();
    let layout = Layout {
        data_dirs: config.log_dirs.clone(),
        metadata_dir: config.metadata_log_dir.clone(),
        node_id: config.node_id,
        ops,
    };
    let logs = Arc::new(
        LogManager::open(&layout, |_| config.topic_defaults.log.clone(), now)
            .context("cannot open the log directories")?,
    );
    let advertised = &config.advertised_listeners[0];
    let this_broker = BrokerInfo {
        id: config.node_id,
        host: advertised.host.clone(),
        port: advertised.port,
        rack: None,
    };
    let metadata = Arc::new(
        MetadataStore::open(&logs, config.node_id, vec![this_broker], now)
            .context("cannot load cluster metadata")?,
    );
    let replicas = Arc::new(ReplicaManager::new(config.node_id, Arc::clone(&logs)));
    replicas
        .apply(&metadata.image(), &config, now)
        .context("cannot open partition logs")?;
    let groups = Arc::new(GroupCoordinator::new(
        CoordinatorConfig {
            group: GroupConfig {
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms as i64,
            },
            offsets_partitions: config.offsets_topic_num_partitions,
            offsets_retention_ms: config.offsets_retention_minutes * 60_000,
            metadata_max_bytes: config.offset_metadata_max_bytes,
            compaction_min_bytes: OFFSETS_COMPACTION_MIN_BYTES,
        },
        Arc::clone(&replicas) as Arc<dyn OffsetsPartitions>,
    ));
    load_groups(&groups, &replicas, now)?;
    Ok(Arc::new(Context {
        config,
        logs,
        metadata,
        replicas,
        groups,
        fetch_sessions: api::fetch_session::SessionCache::default(),
        producer_ids: api::producer_ids::ProducerIdAllocator::default(),
        admin: tokio::sync::Mutex::new(()),
        shutting_down: shutdown,
    }))
}

/// Replays every local `__consumer_offsets` partition into the group coordinator.
fn load_groups(
    groups: &GroupCoordinator,
    replicas: &ReplicaManager,
    now_ms: i64,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut records = 0;
    for partition in replicas
        .all()
        .into_iter()
        .filter(|p| p.topic() == OFFSETS_TOPIC)
    {
        records += groups.load(&partition, now_ms).with_context(|| {
            format!(
                "cannot load groups from {OFFSETS_TOPIC}-{}",
                partition.index()
            )
        })?;
    }
    if records > 0 {
        info!(
            groups = groups.len(),
            records,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded consumer groups"
        );
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<Context>,
    permits: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        warn!(%peer, limit = ctx.config.max_connections, "refusing connection: max.connections reached");
                        continue;
                    };
                    let ctx = Arc::clone(&ctx);
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        connection::serve(stream, peer, ctx, shutdown).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!("connections did not finish in time; closing them");
        connections.abort_all();
    }
}

/// Periodic work: fsync rolled segments, checkpoints, retention, closing idle files, group
/// deadlines and offset expiry.
async fn maintenance(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    let mut checkpoint = tokio::time::interval(Duration::from_millis(
        ctx.config.log_flush_offset_checkpoint_interval_ms,
    ));
    let mut retention = tokio::time::interval(Duration::from_millis(
        ctx.config.log_retention_check_interval_ms,
    ));
    let mut idle = tokio::time::interval(IDLE_FILE_TIMEOUT);
    let mut groups = tokio::time::interval(GROUP_TICK);
    let mut offsets_expiry = tokio::time::interval(Duration::from_millis(
        ctx.config.offsets_retention_check_interval_ms,
    ));
    let mut offsets_compaction = tokio::time::interval(OFFSETS_COMPACTION_CHECK);
    for timer in [
        &mut flush,
        &mut checkpoint,
        &mut retention,
        &mut idle,
        &mut groups,
        &mut offsets_expiry,
        &mut offsets_compaction,
    ] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        let ctx = Arc::clone(&ctx);
        let work: Box<dyn FnOnce() + Send> = tokio::select! {
            _ = flush.tick() => Box::new(move || ctx.logs.flush_rolled_logs()),
            _ = checkpoint.tick() => Box::new(move || {
                if let Err(e) = ctx.logs.write_checkpoints().and_then(|()| ctx.replicas.checkpoint_high_watermarks()) {
                    error!(error = %e, "writing checkpoints failed");
                }
            }),
            _ = retention.tick() => Box::new(move || {
                let replicas = Arc::clone(&ctx.replicas);
                let upper_bound = move |log: &crate::log::Log| {
                    replicas.get(log.topic(), log.partition()).map_or(log.log_end_offset(), |p| p.high_watermark())
                };
                if let Err(e) = ctx.logs.apply_retention(now_ms(), upper_bound) {
                    error!(error = %e, "retention failed");
                }
            }),
            _ = idle.tick() => Box::new(move || ctx.logs.close_idle_files(IDLE_FILE_TIMEOUT)),
            _ = groups.tick() => {
                // Cheap and latency-sensitive (session expiry, join deadlines): run in place.
                ctx.groups.tick(now_ms());
                continue;
            }
            _ = offsets_expiry.tick() => Box::new(move || ctx.groups.expire_offsets(now_ms())),
            _ = offsets_compaction.tick() => Box::new(move || {
                for index in 0..ctx.config.offsets_topic_num_partitions {
                    if let Err(e) = ctx.groups.compact_partition(index, now_ms()) {
                        error!(partition = index, error = %e, "compacting {OFFSETS_TOPIC} failed");
                    }
                }
            }),
            _ = shutdown.changed() => break,
        };
        if let Err(e) = tokio::task::spawn_blocking(work).await {
            error!(error = %e, "maintenance task failed");
        }
    }
}

impl Broker {
    /// Where each listener accepted connections (useful with port 0).
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Graceful stop: no new connections, in-flight requests finish, logs are fsynced and closed,
    /// checkpoints and the clean-shutdown marker written.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        info!("shutting down");
        let _ = self.shutdown_tx.send(true);
        while self.tasks.join_next().await.is_some() {}
        let ctx = Arc::clone(&self.ctx);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            ctx.replicas.checkpoint_high_watermarks()?;
            ctx.logs.shutdown()?;
            Ok(())
        })
        .await??;
        info!("shut down cleanly");
        Ok(())
    }
}
