//! Start-up, the accept loops, periodic maintenance, storage supervision and shutdown of the whole
//! broker.
//!
//! Start-up: open the log directories (recovering logs after an unclean stop), replay the metadata
//! log, publish it to the partitions (which loads the consumer groups of the `__consumer_offsets`
//! partitions led here), bind the listeners.
//!
//! Graceful shutdown (SIGTERM/SIGINT or [`Broker::shutdown`]): stop accepting, let connections
//! finish what is in flight, then fsync and close every log, write the checkpoints and the
//! clean-shutdown markers.
//!
//! A log directory failing takes only its partitions offline; if the failure leaves the broker
//! without its metadata log or without any data directory, [`Broker::failed`] says so and the
//! broker must stop ([`Broker::halt`]): in-flight work is dropped and no clean-shutdown marker is
//! written, so the next start recovers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::connection::{self, Service};
use crate::api::internal::ControllerPlane;
use crate::api::session::{Principal, Session};
use crate::api::{self, Context, now_ms};
use crate::cluster::formation;
use crate::cluster::lifecycle::Lifecycle;
use crate::cluster::quorum::log_store::ReleaseSpace;
use crate::cluster::quorum::types::QuorumNode;
use crate::cluster::quorum::{self, METADATA_TOPIC, QuorumSettings, metadata_log_config};
use crate::cluster::rpc::{ControllerClient, LeaderHint, Registration};
use crate::cluster::{
    BrokerInfo, Controller, MetadataImage, MetadataPublisher, Publishing, Quorum,
};
use crate::config::{BrokerConfig, Voter};
use crate::group::coordinator::{CoordinatorConfig, GroupCoordinator};
use crate::group::state::GroupConfig;
use crate::group::store::{OFFSETS_TOPIC, OffsetsPartitions};
use crate::log::io::{FileOps, SystemFileOps};
use crate::log::{Layout, Log, LogManager};
use crate::partition::ReplicaManager;
use crate::partition::manager::LeadershipListener;

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
/// How often the metadata directory's reserved space is checked (and remade after a full disk).
const BALLAST_CHECK: Duration = Duration::from_secs(10);
/// How long the accept loop waits after a failed accept (out of descriptors), and how often such
/// failures are logged at most.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

/// A running broker.
pub struct Broker {
    ctx: Arc<Context>,
    addresses: Vec<SocketAddr>,
    shutdown_tx: watch::Sender<bool>,
    /// Set (with the reason) when the broker can no longer run: its metadata directory or its
    /// last data directory failed.
    failed_rx: watch::Receiver<Option<String>>,
    tasks: JoinSet<()>,
    /// This broker's registration with the active controller (a cluster only).
    lifecycle: Option<Arc<Lifecycle>>,
    /// Keeps the group coordinator registered as a listener of partition leadership.
    _listener: Arc<dyn LeadershipListener>,
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
    let mut addresses = Vec::new();
    for (_, socket) in &sockets {
        addresses.push(socket.local_addr()?);
    }
    let config = Arc::new(config);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let mut tasks = JoinSet::new();
    let this_node = quorum_address(&config, &addresses);
    let (logs, metadata_log) = open_logs(Arc::clone(&config), ops, this_node.clone()).await?;
    let quorum = start_quorum(&config, &logs, metadata_log, this_node.clone()).await?;
    // Controller listeners answer the quorum from now on, so that voters can elect while they
    // all start; Kafka's requests are answered there once the node serves them.
    let plane = Arc::new(ControllerPlane::new(
        Arc::clone(&quorum),
        config.socket_request_max_bytes,
    ));
    // Their own connection budget: clients cannot crowd the quorum out.
    let controller_permits = Arc::new(Semaphore::new(config.max_connections));
    // A broker that is not a voter is a learner of the quorum, reached on its inter-broker
    // listener, which therefore serves the quorum from now on too.
    let learner = !config.cluster.is_single_node() && !config.cluster.roles.controller;
    let mut client_sockets = Vec::new();
    for (name, socket) in sockets {
        let serves_quorum = config.cluster.is_controller_listener(&name)
            || (learner && name == config.cluster.inter_broker_listener_name);
        if serves_quorum {
            info!(listener = %name, address = %socket.local_addr()?, "listening");
            tasks.spawn(accept_loop(
                socket,
                Arc::from(name.as_str()),
                Arc::clone(&plane),
                config.max_connections,
                Arc::clone(&controller_permits),
                shutdown_rx.clone(),
            ));
        } else {
            client_sockets.push((name, socket));
        }
    }
    // A learner registers first: the controller adds it to the quorum when it does, and only then
    // does it receive the metadata it waits for.
    let early_lifecycle = learner.then(|| {
        start_lifecycle(
            &config,
            &logs,
            &quorum,
            quorum.applied(),
            Some(this_node.clone()),
            &mut tasks,
            shutdown_rx.clone(),
        )
    });
    let serving = serve_metadata(&config, &logs, &quorum, shutdown_rx.clone()).await;
    let (ctx, listener) = match serving {
        Ok(served) => served,
        Err(e) => {
            quorum.shutdown().await;
            return Err(e);
        }
    };
    if !learner {
        plane.serve_api(Arc::clone(&ctx));
    }
    tasks.spawn(Arc::clone(&ctx.controller).run_duties(shutdown_rx.clone()));
    let lifecycle = if config.cluster.is_single_node() || !config.cluster.roles.broker {
        None
    } else {
        let lifecycle = match early_lifecycle {
            Some(lifecycle) => lifecycle,
            None => start_lifecycle(
                &config,
                &logs,
                &quorum,
                ctx.controller.published(),
                None,
                &mut tasks,
                shutdown_rx.clone(),
            ),
        };
        follow_standing(&lifecycle, &ctx.replicas, &mut tasks, shutdown_rx.clone());
        info!("waiting for the controller to admit this broker");
        if let Err(why) = lifecycle.wait_live(shutdown_rx.clone()).await {
            quorum.shutdown().await;
            anyhow::bail!("the controller did not admit this broker: {why}");
        }
        Some(lifecycle)
    };
    if learner {
        plane.serve_api(Arc::clone(&ctx));
    }
    for (name, socket) in client_sockets {
        info!(listener = %name, address = %socket.local_addr()?, "listening");
        tasks.spawn(accept_loop(
            socket,
            Arc::from(name.as_str()),
            Arc::clone(&ctx),
            config.max_connections,
            Arc::clone(&permits),
            shutdown_rx.clone(),
        ));
    }
    let (failed_tx, failed_rx) = watch::channel(None);
    tasks.spawn(supervise_storage(
        Arc::clone(&ctx),
        failed_tx,
        shutdown_rx.clone(),
    ));
    tasks.spawn(maintenance(Arc::clone(&ctx), shutdown_rx));
    Ok(Broker {
        ctx,
        addresses,
        shutdown_tx,
        failed_rx,
        tasks,
        lifecycle,
        _listener: listener,
    })
}

/// Starts this broker's registration and heartbeats with the active controller. `applied` is what
/// the heartbeats report as caught up to; a broker that is not a voter gives the address the quorum
/// reaches it at (it is added as a learner when it registers).
fn start_lifecycle(
    config: &BrokerConfig,
    logs: &LogManager,
    quorum: &Arc<Quorum>,
    applied: watch::Receiver<quorum::Applied>,
    learner_address: Option<QuorumNode>,
    tasks: &mut JoinSet<()>,
    shutdown: watch::Receiver<bool>,
) -> Arc<Lifecycle> {
    let advertised = client_address(config);
    let registration = Registration {
        broker_id: config.node_id,
        incarnation: uuid::Uuid::new_v4(),
        cluster_id: logs.cluster_id().unwrap_or_default(),
        host: advertised.host.clone(),
        port: advertised.port,
        rack: config.cluster.rack.clone(),
        learner_address,
    };
    let hint: LeaderHint = {
        let quorum = Arc::clone(quorum);
        Arc::new(move || quorum.leader())
    };
    let lifecycle = Arc::new(Lifecycle::new(
        ControllerClient::new(
            config.cluster.voters.clone(),
            Duration::from_millis(config.cluster.request_timeout_ms),
            hint,
        ),
        registration,
        Duration::from_millis(config.cluster.broker_heartbeat_interval_ms),
        Duration::from_millis(config.cluster.broker_session_timeout_ms),
        applied,
    ));
    tasks.spawn(Arc::clone(&lifecycle).run(shutdown));
    lifecycle
}

/// Follows the broker's standing: out of touch with the controller, it leads nothing.
fn follow_standing(
    lifecycle: &Lifecycle,
    replicas: &Arc<ReplicaManager>,
    tasks: &mut JoinSet<()>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut standing = lifecycle.standing();
    let replicas = Arc::clone(replicas);
    tasks.spawn(async move {
        loop {
            let cut_off = standing.borrow_and_update().cut_off;
            replicas.set_cut_off(cut_off);
            tokio::select! {
                changed = standing.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// The listener other brokers and the controller reach this broker by (`inter.broker.listener.name`).
fn client_address(config: &BrokerConfig) -> &crate::config::Listener {
    config
        .advertised_listeners
        .iter()
        .find(|l| l.name == config.cluster.inter_broker_listener_name)
        .unwrap_or(&config.advertised_listeners[0])
}

/// How the quorum reaches this node: its entry in `controller.quorum.voters`, or, for a single
/// node (never reached over the network), its first listener.
fn quorum_address(config: &BrokerConfig, bound: &[SocketAddr]) -> QuorumNode {
    if let Some(voter) = config
        .cluster
        .voters
        .iter()
        .find(|v| v.id == config.node_id)
    {
        return QuorumNode {
            host: voter.host.clone(),
            port: voter.port,
        };
    }
    let advertised = client_address(config);
    let port = if advertised.port == 0 {
        bound.first().map_or(0, SocketAddr::port)
    } else {
        advertised.port
    };
    QuorumNode {
        host: advertised.host.clone(),
        port,
    }
}

/// Opens the log directories (blocking work, off the runtime) and the metadata log, converting a
/// pre-quorum metadata log once (a single node only).
async fn open_logs(
    config: Arc<BrokerConfig>,
    ops: Arc<dyn FileOps>,
    this_node: QuorumNode,
) -> anyhow::Result<(Arc<LogManager>, Arc<Log>)> {
    tokio::task::spawn_blocking(move || {
        let now = now_ms();
        let single_node = config.cluster.is_single_node();
        let layout = Layout {
            data_dirs: config.log_dirs.clone(),
            metadata_dir: config.metadata_log_dir.clone(),
            node_id: config.node_id,
            new_cluster: single_node,
            ops,
        };
        let logs = Arc::new(
            LogManager::open(&layout, |_| config.topic_defaults.log.clone(), now)
                .context("cannot open the log directories")?,
        );
        logs.ensure_ballast();
        let metadata_log = logs
            .get_or_create(METADATA_TOPIC, 0, metadata_log_config(), now)
            .context("cannot open the metadata log")?;
        metadata_log.set_config(metadata_log_config());
        if single_node {
            quorum::legacy::migrate(&metadata_log, quorum_node_id(config.node_id), this_node)
                .context("cannot convert the metadata log")?;
        }
        Ok((logs, metadata_log))
    })
    .await?
}

fn quorum_node_id(id: i32) -> u64 {
    quorum::types::node_id(id)
}

/// Starts this node's member of the metadata quorum.
async fn start_quorum(
    config: &BrokerConfig,
    logs: &Arc<LogManager>,
    metadata_log: Arc<Log>,
    this_node: QuorumNode,
) -> anyhow::Result<Arc<Quorum>> {
    let single_node = config.cluster.is_single_node();
    let voters = if single_node {
        vec![Voter {
            id: config.node_id,
            host: this_node.host,
            port: this_node.port,
        }]
    } else {
        config.cluster.voters.clone()
    };
    // What the image is before any record. A single node knows its cluster id and itself; cluster
    // members start from nothing, identically, and learn the rest from the quorum.
    let base = if single_node {
        let advertised = &config.advertised_listeners[0];
        let this_broker = BrokerInfo {
            id: config.node_id,
            host: advertised.host.clone(),
            port: advertised.port,
            rack: config.cluster.rack.clone(),
            ..BrokerInfo::default()
        };
        MetadataImage {
            cluster_id: logs.cluster_id().unwrap_or_default(),
            controller_id: config.node_id,
            brokers: [(this_broker.id, this_broker)].into_iter().collect(),
            last_offset: -1,
            ..MetadataImage::default()
        }
    } else {
        MetadataImage {
            controller_id: -1,
            last_offset: -1,
            ..MetadataImage::default()
        }
    };
    let settings = QuorumSettings {
        node_id: config.node_id,
        voters,
        election_timeout_ms: config.cluster.election_timeout_ms,
        request_timeout_ms: config.cluster.request_timeout_ms,
    };
    let release_space: ReleaseSpace = {
        let logs = Arc::clone(logs);
        Arc::new(move || logs.release_ballast())
    };
    Quorum::start(
        &settings,
        metadata_log,
        base,
        release_space,
        logs.cluster_id(),
    )
    .await
    .context("cannot start the metadata quorum")
}

/// Waits for the quorum (and, in a cluster, agrees on the cluster id), then opens the partitions
/// the metadata says are here and builds what the API handlers work with.
async fn serve_metadata(
    config: &Arc<BrokerConfig>,
    logs: &Arc<LogManager>,
    quorum: &Arc<Quorum>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Arc<Context>, Arc<dyn LeadershipListener>)> {
    formation::wait_for_quorum(quorum, shutdown.clone())
        .await
        .context("cannot join the metadata quorum")?;
    if !config.cluster.is_single_node() {
        let cluster_id =
            formation::agree_on_cluster_id(quorum, logs.cluster_id(), shutdown.clone()).await?;
        let adopting = Arc::clone(logs);
        let adopted = cluster_id.clone();
        tokio::task::spawn_blocking(move || adopting.adopt_cluster_id(&adopted))
            .await?
            .context("this node's data belongs to another cluster")?;
        quorum.set_cluster_id(&cluster_id);
    }
    let replicas = Arc::new(ReplicaManager::new(
        config.node_id,
        Arc::clone(config),
        Arc::clone(logs),
    ));
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
    // The coordinator loads a `__consumer_offsets` partition's groups when this broker starts
    // leading it, which publishing the stored metadata does for every partition here.
    let listener: Arc<dyn LeadershipListener> = Arc::clone(&groups) as Arc<dyn LeadershipListener>;
    replicas.listen(OFFSETS_TOPIC, &listener);
    let publishing = Publishing::start(
        quorum.applied(),
        Arc::clone(&replicas) as Arc<dyn MetadataPublisher>,
    )
    .await
    .context("cannot open partition logs")?;
    let controller = Arc::new(Controller::new(
        Arc::clone(config),
        Arc::clone(quorum),
        Arc::new(publishing),
    ));
    Ok((
        Arc::new(Context {
            config: Arc::clone(config),
            logs: Arc::clone(logs),
            controller,
            replicas,
            groups,
            fetch_sessions: api::fetch_session::SessionCache::default(),
            producer_ids: api::producer_ids::ProducerIdAllocator::default(),
            shutting_down: shutdown,
        }),
        listener,
    ))
}

async fn accept_loop<H: Service>(
    listener: TcpListener,
    name: Arc<str>,
    ctx: Arc<H>,
    max_connections: usize,
    permits: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut last_warning: Option<tokio::time::Instant> = None;
    let mut failures_since_warning = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        warn!(%peer, limit = max_connections, "refusing connection: max.connections reached");
                        continue;
                    };
                    let ctx = Arc::clone(&ctx);
                    let shutdown = shutdown.clone();
                    let session = Session {
                        listener: Arc::clone(&name),
                        peer,
                        principal: Principal::anonymous(),
                    };
                    connections.spawn(async move {
                        serve_tcp(stream, session, ctx, shutdown).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning, and say
                    // so now and then rather than thousands of times. Accepting resumes by itself
                    // once descriptors are free again.
                    failures_since_warning += 1;
                    if last_warning.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_EVERY) {
                        warn!(listener = %name, error = %e, failures = failures_since_warning,
                            "accept failed; retrying");
                        last_warning = Some(tokio::time::Instant::now());
                        failures_since_warning = 0;
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
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

async fn serve_tcp<H: Service>(
    stream: TcpStream,
    session: Session,
    ctx: Arc<H>,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(peer = %session.peer, error = %e, "could not set TCP_NODELAY");
    }
    connection::serve(stream, session, ctx, shutdown).await;
}

/// Watches for log directory failures: a failed data directory only takes its partitions offline,
/// but without the metadata directory or any data directory the broker cannot go on.
async fn supervise_storage(
    ctx: Arc<Context>,
    failed: watch::Sender<Option<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut contradiction = ctx.controller.quorum().contradiction();
    loop {
        tokio::select! {
            _ = ctx.logs.events().failed.notified() => {}
            contradicted = contradiction.wait_for(Option::is_some) => {
                let reason = contradicted.map(|c| c.clone().unwrap_or_default()).unwrap_or_default();
                error!(%reason, "stopping the broker");
                let _ = failed.send(Some(reason));
                return;
            }
            Some(stopped) = ctx.controller.quorum().stopped() => {
                // A failed metadata directory stops the quorum too; say which came first.
                let reason = if ctx.logs.metadata_dir().is_online() {
                    format!("the metadata quorum stopped: {stopped}")
                } else {
                    metadata_dir_failed(&ctx)
                };
                error!(%reason, "stopping the broker");
                let _ = failed.send(Some(reason));
                return;
            }
            _ = shutdown.changed() => return,
        }
        let offline = ctx.logs.offline_dirs();
        if ctx.logs.can_serve() {
            warn!(offline = ?offline, "log directories offline; their partitions answer KAFKA_STORAGE_ERROR");
            continue;
        }
        let reason = if ctx.logs.metadata_dir().is_online() {
            format!("every log directory has failed: {offline:?}")
        } else {
            metadata_dir_failed(&ctx)
        };
        error!(%reason, "stopping the broker");
        let _ = failed.send(Some(reason));
        return;
    }
}

fn metadata_dir_failed(ctx: &Context) -> String {
    format!(
        "the metadata log directory {} has failed ({}); the broker cannot keep its metadata",
        ctx.logs.metadata_dir().path().display(),
        ctx.logs.metadata_dir().failure().unwrap_or_default()
    )
}

/// Periodic work: fsync rolled segments, checkpoints, retention, closing idle files, expiring idle
/// producers, the metadata directory's reserved space, group deadlines and offset expiry.
async fn maintenance(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    let mut checkpoint = tokio::time::interval(Duration::from_millis(
        ctx.config.log_flush_offset_checkpoint_interval_ms,
    ));
    let mut retention = tokio::time::interval(Duration::from_millis(
        ctx.config.log_retention_check_interval_ms,
    ));
    let mut idle = tokio::time::interval(IDLE_FILE_TIMEOUT);
    let mut producers = tokio::time::interval(Duration::from_millis(
        ctx.config.producer_id_expiration_check_interval_ms,
    ));
    let mut ballast = tokio::time::interval(BALLAST_CHECK);
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
        &mut producers,
        &mut ballast,
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
            _ = producers.tick() => Box::new(move || {
                ctx.logs.expire_producers(now_ms(), ctx.config.producer_id_expiration_ms)
            }),
            _ = ballast.tick() => Box::new(move || ctx.logs.ensure_ballast()),
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

    /// Completes when the broker can no longer run (its metadata directory, or every data
    /// directory, failed), with the reason. Never completes otherwise.
    pub async fn failed(&self) -> String {
        let mut failed = self.failed_rx.clone();
        loop {
            if let Some(reason) = failed.borrow_and_update().clone() {
                return reason;
            }
            if failed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Graceful stop: no new connections, in-flight requests finish, logs are fsynced and closed,
    /// checkpoints and the clean-shutdown markers written. On a failing disk it still writes what
    /// it can and reports which files failed.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        info!("shutting down");
        if let Some(lifecycle) = &self.lifecycle {
            // Leaderships move while this broker still serves, so clients follow them without
            // errors.
            let within = Duration::from_millis(self.ctx.config.cluster.broker_session_timeout_ms);
            if lifecycle.controlled_shutdown(within).await {
                info!("the controller moved this broker's leaderships away");
            } else {
                warn!("controlled shutdown did not finish in time; stopping anyway");
            }
        }
        let _ = self.shutdown_tx.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.ctx.controller.quorum().shutdown().await;
        let ctx = Arc::clone(&self.ctx);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let checkpointed = ctx.replicas.checkpoint_high_watermarks();
            if let Err(e) = &checkpointed {
                error!(error = %e, "could not write the high watermark checkpoints");
            }
            ctx.logs.shutdown()?;
            checkpointed?;
            Ok(())
        })
        .await??;
        info!("shut down cleanly");
        Ok(())
    }

    /// Stops after a storage failure the broker cannot survive: no new connections, in-flight work
    /// dropped, nothing more written (no clean-shutdown marker: the next start recovers).
    pub async fn halt(mut self, reason: &str) {
        error!(%reason, "halting");
        let _ = self.shutdown_tx.send(true);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}
