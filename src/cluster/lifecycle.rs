//! A broker's life in a cluster, from its own side. It registers with the active controller when
//! it starts (a new incarnation each process), heartbeats every `broker.heartbeat.interval.ms`,
//! learns from the answers whether it is fenced, and registers again if the controller no longer
//! knows its epoch. At shutdown it asks for a controlled shutdown, so that its leaderships move
//! before it stops serving.
//!
//! A broker whose heartbeats have gone unanswered for `broker.session.timeout.ms` considers itself
//! cut off: by then the controller has fenced it and elected other leaders, so it must not go on
//! acknowledging writes as a leader. It leads nothing (NOT_LEADER_OR_FOLLOWER) until it is back in
//! touch: stricter than Kafka, which lets a cut-off leader accept acks=1 writes that are then lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::quorum::Applied;
use super::rpc::{
    BROKER_HEARTBEAT, ControllerClient, Heartbeat, HeartbeatReply, REGISTER_BROKER, Registration,
    RpcError,
};

/// The broker's standing with the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The epoch of its current registration.
    pub epoch: Option<i64>,
    pub fenced: bool,
    /// No heartbeat answered within the session timeout.
    pub cut_off: bool,
    /// The controller let it go (controlled shutdown done).
    pub released: bool,
    /// The controller will never admit this broker, and why (its data is another cluster's).
    pub rejected: Option<String>,
}

pub struct Lifecycle {
    client: ControllerClient,
    registration: Registration,
    heartbeat_interval: Duration,
    session_timeout: Duration,
    published: watch::Receiver<Applied>,
    standing: watch::Sender<Standing>,
    epoch: AtomicI64,
    shutting_down: AtomicBool,
}

const NO_EPOCH: i64 = -1;

impl Lifecycle {
    pub fn new(
        client: ControllerClient,
        registration: Registration,
        heartbeat_interval: Duration,
        session_timeout: Duration,
        published: watch::Receiver<Applied>,
    ) -> Lifecycle {
        Lifecycle {
            client,
            registration,
            heartbeat_interval,
            session_timeout,
            published,
            standing: watch::channel(Standing {
                epoch: None,
                fenced: true,
                cut_off: false,
                released: false,
                rejected: None,
            })
            .0,
            epoch: AtomicI64::new(NO_EPOCH),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The broker's standing, as it changes.
    pub fn standing(&self) -> watch::Receiver<Standing> {
        self.standing.subscribe()
    }

    fn update(&self, f: impl FnOnce(&mut Standing)) {
        self.standing.send_if_modified(|s| {
            let before = s.clone();
            f(s);
            if before.cut_off != s.cut_off {
                if s.cut_off {
                    warn!(timeout_ms = self.session_timeout.as_millis() as u64,
                        "no heartbeat answered within the session timeout: leading nothing until the controller answers again");
                } else {
                    info!("back in touch with the controller");
                }
            }
            before != *s
        });
    }

    /// Registers, then heartbeats until `shutdown`, or until a controlled shutdown is done.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut last_contact = Instant::now();
        let mut last_warning: Option<Instant> = None;
        loop {
            let within = self.heartbeat_interval.max(Duration::from_millis(500));
            let contacted = match self.epoch.load(Ordering::Acquire) {
                NO_EPOCH => self.register(within).await,
                epoch => self.heartbeat(epoch, within).await,
            };
            match contacted {
                Ok(()) => last_contact = Instant::now(),
                Err(why) => {
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        warn!(reason = %why, "the active controller did not answer");
                        last_warning = Some(Instant::now());
                    }
                }
            }
            let cut_off = last_contact.elapsed() >= self.session_timeout;
            self.update(|s| s.cut_off = cut_off);
            {
                let standing = self.standing.borrow();
                if standing.released || standing.rejected.is_some() {
                    return;
                }
            }
            // A fenced broker asks again soon: it is unfenced as soon as it has caught up.
            let pause = if self.standing.borrow().fenced {
                self.heartbeat_interval.min(Duration::from_millis(200))
            } else {
                self.heartbeat_interval
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    async fn register(&self, within: Duration) -> Result<(), String> {
        match self
            .client
            .call::<_, i64>(REGISTER_BROKER, &self.registration, within)
            .await
        {
            Ok(epoch) => {
                info!(epoch, "registered with the controller");
                self.epoch.store(epoch, Ordering::Release);
                self.update(|s| {
                    s.epoch = Some(epoch);
                    s.fenced = true;
                });
                Ok(())
            }
            Err(RpcError::Refused(e)) if e.code == E::InconsistentClusterId.code() => {
                tracing::error!(reason = %e.message, "the controller refuses this broker");
                self.update(|s| s.rejected = Some(e.message.clone()));
                Err(e.message)
            }
            Err(RpcError::Refused(e)) => Err(format!("registration refused: {}", e.message)),
            Err(RpcError::NoController(why)) => Err(why),
        }
    }

    async fn heartbeat(&self, epoch: i64, within: Duration) -> Result<(), String> {
        let heartbeat = Heartbeat {
            broker_id: self.registration.broker_id,
            epoch,
            applied_index: self.published.borrow().index,
            want_shutdown: self.shutting_down.load(Ordering::Acquire),
        };
        match self
            .client
            .call::<_, HeartbeatReply>(BROKER_HEARTBEAT, &heartbeat, within)
            .await
        {
            Ok(reply) => {
                self.update(|s| {
                    if s.fenced && !reply.fenced {
                        info!(epoch, "the controller unfenced this broker");
                    }
                    s.fenced = reply.fenced;
                    s.released = reply.should_shut_down;
                });
                Ok(())
            }
            Err(RpcError::Refused(e))
                if e.code == E::StaleBrokerEpoch.code()
                    || e.code == E::BrokerIdNotRegistered.code() =>
            {
                warn!(epoch, reason = %e.message, "the controller no longer knows this registration; registering again");
                self.epoch.store(NO_EPOCH, Ordering::Release);
                self.update(|s| {
                    s.epoch = None;
                    s.fenced = true;
                });
                // The controller answered: it is in touch.
                Ok(())
            }
            Err(RpcError::Refused(e)) => Err(format!("heartbeat refused: {}", e.message)),
            Err(RpcError::NoController(why)) => Err(why),
        }
    }

    /// Waits until the controller has unfenced this broker; why not if it never will, or at
    /// shutdown.
    pub async fn wait_live(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), String> {
        let mut standing = self.standing();
        tokio::select! {
            settled = standing.wait_for(|s| !s.fenced || s.rejected.is_some()) => match settled {
                Ok(s) => match &s.rejected {
                    Some(why) => Err(why.clone()),
                    None => Ok(()),
                },
                Err(_) => Err("stopped".into()),
            },
            _ = shutdown.wait_for(|stop| *stop) => Err("shut down before the controller admitted this broker".into()),
        }
    }

    /// Asks the controller to move this broker's leaderships away and waits (up to `within`) until
    /// it has; heartbeats carry the request from now on.
    pub async fn controlled_shutdown(&self, within: Duration) -> bool {
        self.shutting_down.store(true, Ordering::Release);
        let mut standing = self.standing();
        let released = tokio::time::timeout(within, standing.wait_for(|s| s.released)).await;
        matches!(released, Ok(Ok(_)))
    }
}
