//! One client connection, over any [`Transport`]: reads frames, hands each request to the API layer
//! with the connection's [`Session`], and writes responses strictly in request order.
//!
//! Requests are decoded and started as they arrive (up to [`MAX_IN_FLIGHT`] requests and
//! [`MAX_IN_FLIGHT_BYTES`] per connection), so a long-polling Fetch does not hold up the requests
//! behind it from being read; their responses still go out in order. At shutdown the connection stops reading, finishes what is in flight,
//! writes those responses and closes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tracing::{debug, trace};

use super::frame::FrameReader;
use super::transport::Transport;
use super::writer::write_response;
use crate::api::internal::ControllerPlane;
use crate::api::session::Session;
use crate::api::{self, Context, Outcome};
use crate::protocol::header::{self, RequestHeader};

/// Requests of one connection being handled at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// Bytes of request frames of one connection being handled at once.
pub const MAX_IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;

/// A request being handled, resolving to its outcome and the size of its frame.
type InFlight = Pin<Box<dyn Future<Output = (Outcome, usize)> + Send>>;

/// What answers the requests of a listener's connections: the API handlers on client listeners,
/// the controller plane on controller listeners.
pub trait Service: Send + Sync + 'static {
    /// The largest request frame accepted.
    fn max_request_bytes(&self) -> usize;
    fn handle(
        self: Arc<Self>,
        session: Arc<Session>,
        header: RequestHeader,
        body: bytes::Bytes,
    ) -> impl Future<Output = Outcome> + Send;
}

impl Service for Context {
    fn max_request_bytes(&self) -> usize {
        self.config.socket_request_max_bytes
    }

    async fn handle(
        self: Arc<Self>,
        session: Arc<Session>,
        header: RequestHeader,
        body: bytes::Bytes,
    ) -> Outcome {
        api::handle(&self, &session, header, body).await
    }
}

impl Service for ControllerPlane {
    fn max_request_bytes(&self) -> usize {
        self.max_request_bytes()
    }

    async fn handle(
        self: Arc<Self>,
        session: Arc<Session>,
        header: RequestHeader,
        body: bytes::Bytes,
    ) -> Outcome {
        ControllerPlane::handle(&self, &session, header, body).await
    }
}

/// Serves `stream` until the client leaves, a protocol error closes it, or shutdown.
pub async fn serve<S: Transport, H: Service>(
    mut stream: S,
    session: Session,
    ctx: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) {
    let session = Arc::new(session);
    let peer = session.peer;
    let mut reader = FrameReader::new(ctx.max_request_bytes());
    let mut in_flight: FuturesOrdered<InFlight> = FuturesOrdered::new();
    // Bytes of request frames in flight: reading pauses above the budget (a single request larger
    // than it still goes through alone), which bounds what a pipelining client can make the
    // broker hold, e.g. produce requests waiting for an fsync.
    let byte_budget = MAX_IN_FLIGHT_BYTES.min(ctx.max_request_bytes());
    let mut in_flight_bytes = 0usize;
    let mut reading = true;
    let reason = loop {
        if !reading && in_flight.is_empty() {
            break "done".to_string();
        }
        // Hand out every frame already buffered before waiting for more.
        let room = in_flight.len() < MAX_IN_FLIGHT && in_flight_bytes < byte_budget;
        if reading && room {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    let size = frame.len();
                    in_flight_bytes += size;
                    match header::parse(&frame) {
                        Ok((request_header, body)) => {
                            trace!(%peer, api = request_header.api_key, version = request_header.api_version,
                                correlation_id = request_header.correlation_id, "request");
                            let ctx = Arc::clone(&ctx);
                            let session = Arc::clone(&session);
                            in_flight.push_back(Box::pin(async move {
                                (ctx.handle(session, request_header, body).await, size)
                            }));
                        }
                        Err(e) => {
                            debug!(%peer, error = %e, "closing connection: bad request header");
                            reading = false;
                            in_flight.push_back(Box::pin(async move {
                                (Outcome::Close(e.to_string()), size)
                            }));
                        }
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    debug!(%peer, error = %e, "closing connection");
                    break e.to_string();
                }
            }
        }
        let can_read = reading && room;
        tokio::select! {
            biased;
            done = in_flight.next(), if !in_flight.is_empty() => {
                let Some((outcome, size)) = done else { continue };
                in_flight_bytes -= size;
                match outcome {
                    Outcome::Respond(response) => {
                        let started = std::time::Instant::now();
                        if let Err(e) = write_response(&mut stream, &response).await {
                            break format!("write failed: {e}");
                        }
                        trace!(%peer, bytes = response.wire_len(), write_us = started.elapsed().as_micros() as u64, "response");
                    }
                    Outcome::NoResponse => {}
                    Outcome::Close(why) => break why,
                }
            }
            read = stream.read_buf(reader.buffer()), if can_read => {
                match read {
                    // The client left: nobody is waiting for answers, so in-flight requests are
                    // dropped at their next await point (appends already made stay made).
                    Ok(0) => break "client closed the connection".to_string(),
                    Ok(_) => {}
                    Err(e) => break format!("read failed: {e}"),
                }
            }
            _ = shutdown.changed(), if reading => {
                reading = false;
            }
        }
    };
    trace!(%peer, %reason, "connection closed");
}
