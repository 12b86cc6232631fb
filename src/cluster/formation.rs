//! Joining the cluster at start-up: waiting until the metadata quorum has a leader this node has
//! caught up with, and agreeing on the cluster id. A new cluster needs no format step: its first
//! quorum leader commits the cluster id (the one this node's directories carry, or a new one), and
//! every node formats its directories with it, refusing to start if they belong to another cluster.

use std::io;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::quorum::{Applied, Quorum};
use super::records::MetadataRecord;
use crate::log::meta_properties;

/// How often a node waiting for its quorum says so.
const WAITING_NOTICE: Duration = Duration::from_secs(10);

/// Waits until `quorum` has a leader and this node has applied everything committed before the
/// leader's term. Gives up only at shutdown.
pub async fn wait_for_quorum(
    quorum: &Quorum,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<Applied> {
    let started = tokio::time::Instant::now();
    let mut contradiction = quorum.contradiction();
    loop {
        tokio::select! {
            contradicted = contradiction.wait_for(Option::is_some) => {
                let why = contradicted.map(|c| c.clone().unwrap_or_default()).unwrap_or_default();
                return Err(io::Error::new(io::ErrorKind::InvalidData, why));
            }
            caught_up = quorum.caught_up(WAITING_NOTICE) => match caught_up {
                Ok(applied) => return Ok(applied),
                Err(e) => warn!(waited_s = started.elapsed().as_secs(), reason = %e,
                    "waiting for the metadata quorum (are the other voters of controller.quorum.voters up?)"),
            },
            _ = shutdown.changed() => {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "shut down while waiting for the metadata quorum"));
            }
        }
        if let Some(reason) = quorum.stopped_now() {
            return Err(io::Error::other(format!(
                "the metadata quorum stopped: {reason}"
            )));
        }
    }
}

/// Agrees with the quorum on the cluster id: the leader commits one if the quorum has none yet
/// (`local`, the id this node's directories carry, or a new one); returns the quorum's.
pub async fn agree_on_cluster_id(
    quorum: &Quorum,
    local: Option<String>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<String> {
    loop {
        let applied = wait_for_quorum(quorum, shutdown.clone()).await?;
        if !applied.image.cluster_id.is_empty() {
            return Ok(applied.image.cluster_id.clone());
        }
        if quorum.is_leader() {
            let id = local.clone().unwrap_or_else(meta_properties::new_id);
            match quorum
                .append(vec![MetadataRecord::ClusterId { id: id.clone() }])
                .await
            {
                Ok(_) => info!(cluster_id = %id, "formed a new cluster"),
                Err(e) => warn!(error = %e, "could not commit the cluster id; retrying"),
            }
        } else {
            // The leader commits it as soon as it has caught up.
            let mut applied = quorum.applied();
            let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
        }
    }
}
