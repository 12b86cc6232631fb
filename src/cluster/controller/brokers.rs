//! Brokers as the active controller sees them: registrations, heartbeats, fencing a broker whose
//! session expired (`broker.session.timeout.ms`), unfencing one that has caught up with the
//! metadata, controlled shutdown (its leaderships move away first), and preferred leader
//! elections (on request, and periodically with `auto.leader.rebalance.enable`).
//!
//! When each broker was last heard from is kept in memory by the controller only: a new
//! controller starts every broker's clock afresh, so a failover never fences anyone by itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{ApiError, Controller};
use crate::cluster::election;
use crate::cluster::image::MetadataImage;
use crate::cluster::records::MetadataRecord;
use crate::cluster::rpc::{Heartbeat, HeartbeatReply, Registration, Reply};

/// What the controller knows of brokers beyond the image, for one quorum term.
#[derive(Default)]
pub(super) struct Liveness {
    term: u64,
    /// When each broker was last heard from.
    last_seen: HashMap<i32, Instant>,
    /// The metadata index a broker must have applied to be unfenced (its registration's).
    caught_up_at: HashMap<i32, u64>,
}

fn image_with(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
    let mut next = image.clone();
    for r in records {
        next.apply(r);
    }
    next
}

impl Controller {
    /// The liveness table of the current term (a new term starts it afresh).
    fn with_liveness<T>(&self, f: impl FnOnce(&mut Liveness) -> T) -> T {
        let term = self.quorum.status().term;
        let mut liveness = self.liveness.lock();
        if liveness.term != term {
            *liveness = Liveness {
                term,
                ..Liveness::default()
            };
        }
        f(&mut liveness)
    }

    /// How a refused check answers: NOT_CONTROLLER as a redirection, anything else as refused.
    fn refusal<T>(&self, e: ApiError) -> Reply<T> {
        if e.code == E::NotController.code() {
            Reply::NotController {
                leader: self.quorum.leader(),
            }
        } else {
            Reply::Refused(e)
        }
    }

    /// Registers a broker process: a new epoch, fenced until it has caught up. A previous
    /// registration of the same id is replaced unless it is live and still heartbeating.
    pub async fn register_broker(&self, registration: Registration) -> Reply<i64> {
        if !self.quorum.is_leader() {
            return Reply::NotController {
                leader: self.quorum.leader(),
            };
        }
        let _one_at_a_time = self.changes.lock().await;
        let image = match self.leader_image().await {
            Ok(image) => image,
            Err(e) => return self.refusal(e),
        };
        let id = registration.broker_id;
        if !registration.cluster_id.is_empty() && registration.cluster_id != image.cluster_id {
            return Reply::Refused(ApiError::new(
                E::InconsistentClusterId,
                format!(
                    "broker {id} belongs to cluster {}, but this is cluster {}",
                    registration.cluster_id, image.cluster_id
                ),
            ));
        }
        if let Some(existing) = image.brokers.get(&id) {
            if existing.incarnation == registration.incarnation {
                // A retried registration whose answer was lost, or whose learner was not added.
                if let Some(address) = registration.learner_address.clone()
                    && let Err(e) = self.quorum.add_learner(id, address, self.patience()).await
                {
                    return Reply::Refused(ApiError::new(E::RequestTimedOut, e.to_string()));
                }
                return Reply::Done(existing.epoch);
            }
            let session = Duration::from_millis(self.config.cluster.broker_session_timeout_ms);
            let heard_lately = self.with_liveness(|l| {
                l.last_seen
                    .get(&id)
                    .is_some_and(|seen| seen.elapsed() < session)
            });
            if !existing.fenced && heard_lately {
                return Reply::Refused(ApiError::new(
                    E::DuplicateBrokerRegistration,
                    format!(
                        "Another process is registered as broker {id} and is still heartbeating: check node.id"
                    ),
                ));
            }
        }
        let epoch = image.last_broker_epoch + 1;
        let mut records = vec![MetadataRecord::RegisterBroker {
            id,
            epoch,
            incarnation: registration.incarnation,
            host: registration.host.clone(),
            port: registration.port,
            rack: registration.rack.clone(),
        }];
        // The previous process of this broker may have led partitions: they move now.
        records.extend(election::remove_broker(&image_with(&image, &records), id));
        match self.change(image, records).await {
            Ok(committed) => {
                // A broker that is not a voter receives the metadata log as a learner.
                if let Some(address) = registration.learner_address.clone()
                    && let Err(e) = self.quorum.add_learner(id, address, self.patience()).await
                {
                    warn!(broker = id, error = %e, "could not add the broker to the metadata quorum");
                    return Reply::Refused(ApiError::new(E::RequestTimedOut, e.to_string()));
                }
                let index = u64::try_from(committed.last_offset).unwrap_or(0);
                self.with_liveness(|l| {
                    l.last_seen.insert(id, Instant::now());
                    l.caught_up_at.insert(id, index);
                });
                info!(broker = id, epoch, host = %registration.host, port = registration.port,
                    "registered broker");
                Reply::Done(epoch)
            }
            Err(e) => self.refusal(e),
        }
    }

    /// A broker's heartbeat: keeps it live, unfences it once caught up, and runs its controlled
    /// shutdown when it asks for one.
    pub async fn broker_heartbeat(&self, heartbeat: Heartbeat) -> Reply<HeartbeatReply> {
        // Only a leader a majority still follows may keep a broker in touch: a controller cut
        // off with a minority must not vouch for its own broker.
        let within = Duration::from_millis(self.config.cluster.broker_heartbeat_interval_ms);
        if !self.quorum.is_leader() || !self.quorum.confirm_leadership(within).await {
            return Reply::NotController {
                leader: self.quorum.leader(),
            };
        }
        let id = heartbeat.broker_id;
        let image = self.image();
        let Some(broker) = image.brokers.get(&id) else {
            return Reply::Refused(ApiError::new(
                E::BrokerIdNotRegistered,
                format!("broker {id} is not registered"),
            ));
        };
        if broker.epoch != heartbeat.epoch {
            return Reply::Refused(ApiError::new(
                E::StaleBrokerEpoch,
                format!(
                    "broker {id} is registered with epoch {}, not {}",
                    broker.epoch, heartbeat.epoch
                ),
            ));
        }
        let published = image.last_offset.max(0) as u64;
        let caught_up_at = self.with_liveness(|l| {
            l.last_seen.insert(id, Instant::now());
            *l.caught_up_at.entry(id).or_insert(published)
        });
        if heartbeat.want_shutdown {
            return self.shut_down_broker(id, heartbeat.epoch).await;
        }
        if !broker.fenced {
            return Reply::Done(HeartbeatReply {
                fenced: false,
                should_shut_down: false,
            });
        }
        if heartbeat.applied_index.is_none_or(|i| i < caught_up_at) {
            return Reply::Done(HeartbeatReply {
                fenced: true,
                should_shut_down: false,
            });
        }
        let _one_at_a_time = self.changes.lock().await;
        let image = match self.leader_image().await {
            Ok(image) => image,
            Err(e) => return self.refusal(e),
        };
        if !image
            .brokers
            .get(&id)
            .is_some_and(|b| b.epoch == heartbeat.epoch && b.fenced)
        {
            return Reply::Done(HeartbeatReply {
                fenced: !image.is_live(id),
                should_shut_down: false,
            });
        }
        let mut records = vec![MetadataRecord::UnfenceBroker {
            id,
            epoch: heartbeat.epoch,
        }];
        records.extend(election::elect_returning(&image_with(&image, &records), id));
        match self.change(image, records).await {
            Ok(_) => {
                info!(broker = id, epoch = heartbeat.epoch, "broker is live");
                Reply::Done(HeartbeatReply {
                    fenced: false,
                    should_shut_down: false,
                })
            }
            Err(e) => self.refusal(e),
        }
    }

    /// Moves leaderships off a broker that wants to stop; once none can move any more, fences it
    /// and lets it go.
    async fn shut_down_broker(&self, id: i32, epoch: i64) -> Reply<HeartbeatReply> {
        let _one_at_a_time = self.changes.lock().await;
        let image = match self.leader_image().await {
            Ok(image) => image,
            Err(e) => return self.refusal(e),
        };
        let moves = election::move_leaders_off(&image, id);
        let image = if moves.is_empty() {
            image
        } else {
            info!(
                broker = id,
                partitions = moves.len(),
                "moving leaders off a broker that is shutting down"
            );
            match self.change(image, moves).await {
                Ok(image) => image,
                Err(e) => return self.refusal(e),
            }
        };
        if !election::move_leaders_off(&image, id).is_empty() {
            return Reply::Done(HeartbeatReply {
                fenced: !image.is_live(id),
                should_shut_down: false,
            });
        }
        let mut records = vec![MetadataRecord::FenceBroker { id, epoch }];
        records.extend(election::remove_broker(&image_with(&image, &records), id));
        match self.change(image, records).await {
            Ok(_) => {
                info!(broker = id, "broker shut down in a controlled way");
                Reply::Done(HeartbeatReply {
                    fenced: true,
                    should_shut_down: true,
                })
            }
            Err(e) => self.refusal(e),
        }
    }

    /// Removes a broker's registration: it leaves every ISR and leadership (its replicas stay
    /// assigned until reassigned). A live broker that keeps heartbeating registers again.
    pub(super) async fn unregister_broker_here(&self, id: i32) -> Result<(), ApiError> {
        if self.client.is_none() && id == self.config.node_id {
            return Err(ApiError::new(
                E::InvalidRequest,
                "A single node cannot unregister itself.",
            ));
        }
        let _one_at_a_time = self.changes.lock().await;
        let image = self.leader_image().await?;
        if !image.brokers.contains_key(&id) {
            return Err(ApiError::new(
                E::BrokerIdNotRegistered,
                format!("Broker ID {id} is not currently registered"),
            ));
        }
        let mut records = vec![MetadataRecord::UnregisterBroker { id }];
        records.extend(election::remove_broker(&image_with(&image, &records), id));
        self.change(image, records).await?;
        if let Err(e) = self.quorum.remove_learner(id, self.patience()).await {
            warn!(broker = id, error = %e, "could not remove the broker from the quorum's learners");
        }
        self.with_liveness(|l| {
            l.last_seen.remove(&id);
            l.caught_up_at.remove(&id);
        });
        info!(broker = id, "unregistered broker");
        Ok(())
    }

    /// Fences every live broker not heard from within `broker.session.timeout.ms`.
    async fn fence_expired(&self) {
        let session = Duration::from_millis(self.config.cluster.broker_session_timeout_ms);
        let image = self.image();
        let expired: Vec<(i32, i64)> = self.with_liveness(|l| {
            image
                .live_brokers()
                .filter(|b| {
                    let seen = l.last_seen.entry(b.id).or_insert_with(Instant::now);
                    seen.elapsed() >= session
                })
                .map(|b| (b.id, b.epoch))
                .collect()
        });
        for (id, epoch) in expired {
            let _one_at_a_time = self.changes.lock().await;
            let Ok(image) = self.leader_image().await else {
                return;
            };
            if !image
                .brokers
                .get(&id)
                .is_some_and(|b| b.epoch == epoch && !b.fenced)
            {
                continue;
            }
            let mut records = vec![MetadataRecord::FenceBroker { id, epoch }];
            records.extend(election::remove_broker(&image_with(&image, &records), id));
            let moved = records.len() - 1;
            match self.change(image, records).await {
                Ok(_) => warn!(
                    broker = id,
                    session_ms = session.as_millis() as u64,
                    partitions = moved,
                    "fenced a broker that missed its heartbeats"
                ),
                Err(e) => warn!(broker = id, error = %e.message, "could not fence a broker"),
            }
        }
    }

    /// Makes the preferred replica the leader of each partition where it can be (ElectLeaders).
    pub(super) async fn elect_preferred_leaders_here(
        &self,
        partitions: &[(String, i32)],
    ) -> Vec<Result<(), ApiError>> {
        let _one_at_a_time = self.changes.lock().await;
        let mut results = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            let image = match self.leader_image().await {
                Ok(image) => image,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let Some(info) = image.partition(topic, *partition) else {
                results.push(Err(ApiError::new(
                    E::UnknownTopicOrPartition,
                    "The partition does not exist.",
                )));
                continue;
            };
            if info.replicas.first() == Some(&info.leader) {
                results.push(Err(ApiError::new(
                    E::ElectionNotNeeded,
                    "The preferred replica is already the leader.",
                )));
                continue;
            }
            let result = match election::elect_preferred(&image, topic, *partition) {
                None => Err(ApiError::new(
                    E::PreferredLeaderNotAvailable,
                    "The preferred replica is not live and in sync.",
                )),
                Some(record) => self.change(image, vec![record]).await.map(|_| ()),
            };
            results.push(result);
        }
        results
    }

    /// Elects the preferred leader everywhere it can be (`auto.leader.rebalance.enable`).
    async fn rebalance_leaders(&self) {
        let _one_at_a_time = self.changes.lock().await;
        let Ok(image) = self.leader_image().await else {
            return;
        };
        let records: Vec<MetadataRecord> = image
            .topics
            .values()
            .flat_map(|t| (0..t.partitions.len()).map(move |i| (t.name.as_str(), i as i32)))
            .filter_map(|(topic, partition)| election::elect_preferred(&image, topic, partition))
            .collect();
        if records.is_empty() {
            return;
        }
        let count = records.len();
        match self.change(image, records).await {
            Ok(_) => info!(partitions = count, "preferred replicas lead again"),
            Err(e) => warn!(error = %e.message, "could not rebalance leaders"),
        }
    }

    /// The controller's periodic work while it is active: fencing brokers whose session expired
    /// and, if enabled, returning leadership to preferred replicas. Runs until shutdown.
    pub async fn run_duties(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if self.client.is_none() {
            return;
        }
        let cluster = &self.config.cluster;
        let mut fencing = tokio::time::interval(Duration::from_millis(
            (cluster.broker_heartbeat_interval_ms / 2).max(50),
        ));
        let mut rebalancing = tokio::time::interval(Duration::from_millis(
            cluster.leader_imbalance_check_interval_ms.max(1000),
        ));
        loop {
            tokio::select! {
                _ = fencing.tick() => {
                    if self.quorum.is_leader() {
                        self.fence_expired().await;
                    }
                }
                _ = rebalancing.tick() => {
                    if cluster.auto_leader_rebalance && self.quorum.is_leader() {
                        self.rebalance_leaders().await;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }

    /// The controller id this broker shows clients: a live broker, which forwards admin requests
    /// to the active controller, as KRaft brokers do. It names itself: the client has just
    /// reached it, so it is the broker most surely up (a client sent to a dead controller waits
    /// for its request timeout before it asks again).
    pub fn reported_controller_id(&self, image: &MetadataImage) -> i32 {
        let me = self.config.node_id;
        if self.client.is_none() || image.is_live(me) {
            return me;
        }
        match self.quorum.leader() {
            Some(leader) if image.is_live(leader) => leader,
            _ => image.live_brokers().map(|b| b.id).next().unwrap_or(-1),
        }
    }
}
