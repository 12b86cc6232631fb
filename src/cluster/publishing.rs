//! Publishing: every image the metadata quorum applies on this node is handed, in log order, to
//! this node's [`MetadataPublisher`] (its partitions), and what has been published is watchable,
//! so that a change can wait until it has taken effect here.
//!
//! Every call into the publisher (prepare, abandon, publish) takes one turn: a change abandoned on
//! the controller cannot remove a log that a publish of the same change is adopting.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::error;

use super::controller::MetadataPublisher;
use super::image::MetadataImage;
use super::quorum::Applied;

pub struct Publishing {
    publisher: Arc<dyn MetadataPublisher>,
    /// One publisher call at a time.
    turn: Arc<Mutex<()>>,
    published: watch::Receiver<Applied>,
}

impl Publishing {
    /// Publishes what the quorum has applied so far (start-up: every partition hosted here is
    /// opened), then follows `applied` in the background until its sender goes away.
    pub async fn start(
        mut applied: watch::Receiver<Applied>,
        publisher: Arc<dyn MetadataPublisher>,
    ) -> io::Result<Publishing> {
        let turn = Arc::new(Mutex::new(()));
        let first = applied.borrow_and_update().clone();
        {
            let (publisher, turn, image) = (
                Arc::clone(&publisher),
                Arc::clone(&turn),
                Arc::clone(&first.image),
            );
            tokio::task::spawn_blocking(move || {
                let _turn = turn.lock();
                publisher.publish(&MetadataImage::default(), &image)
            })
            .await
            .map_err(io::Error::other)??;
        }
        let (published_tx, published) = watch::channel(first);
        let (publisher_for_loop, turn_for_loop) = (Arc::clone(&publisher), Arc::clone(&turn));
        tokio::spawn(async move {
            while applied.changed().await.is_ok() {
                let next = applied.borrow_and_update().clone();
                let previous = Arc::clone(&published_tx.borrow().image);
                let (publisher, turn, image) = (
                    Arc::clone(&publisher_for_loop),
                    Arc::clone(&turn_for_loop),
                    Arc::clone(&next.image),
                );
                let result = tokio::task::spawn_blocking(move || {
                    let _turn = turn.lock();
                    publisher.publish(&previous, &image)
                })
                .await;
                if !matches!(result, Ok(Ok(()))) {
                    // Committed all the same: the partitions concerned answer with storage errors
                    // until their directory is back.
                    error!(index = ?next.index, ?result, "could not apply committed metadata to local partitions");
                }
                published_tx.send_replace(next);
            }
        });
        Ok(Publishing {
            publisher,
            turn,
            published,
        })
    }

    /// The image as published here.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.published.borrow().image)
    }

    /// What is published here, and each change as it is.
    pub fn published(&self) -> watch::Receiver<Applied> {
        self.published.clone()
    }

    /// Waits until the entry at `index` is published here; `None` after `timeout` or when
    /// publishing has stopped.
    pub async fn wait_for(&self, index: u64, timeout: Duration) -> Option<Applied> {
        let mut published = self.published.clone();
        let reached = tokio::time::timeout(
            timeout,
            published.wait_for(|p| p.index.is_some_and(|i| i >= index)),
        )
        .await;
        match reached {
            Ok(Ok(applied)) => Some(applied.clone()),
            _ => None,
        }
    }

    /// Makes ready on this node what `next` needs, all or nothing (see [`MetadataPublisher`]).
    pub async fn prepare(
        &self,
        current: Arc<MetadataImage>,
        next: Arc<MetadataImage>,
    ) -> io::Result<()> {
        let (publisher, turn) = (Arc::clone(&self.publisher), Arc::clone(&self.turn));
        tokio::task::spawn_blocking(move || {
            let _turn = turn.lock();
            publisher.prepare(&current, &next)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Undoes what [`Self::prepare`] made for `next`, unless a publish has adopted it since.
    pub async fn abandon(&self, current: Arc<MetadataImage>, next: Arc<MetadataImage>) {
        let (publisher, turn) = (Arc::clone(&self.publisher), Arc::clone(&self.turn));
        let _ = tokio::task::spawn_blocking(move || {
            let _turn = turn.lock();
            publisher.abandon(&current, &next);
        })
        .await;
    }
}
