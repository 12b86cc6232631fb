//! The controller plane: what a controller listener serves. kafe's internal requests between nodes
//! (see [`crate::protocol::header::INTERNAL_API_KEYS`]) are answered here: the metadata quorum's
//! own requests from the moment the quorum runs, so that voters can elect before any of them has
//! finished starting. Kafka's requests are handed to the API handlers once the node serves them.
//! On a client listener an internal request closes the connection.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tracing::debug;

use super::session::Session;
use super::{Context, Outcome};
use crate::cluster::Quorum;
use crate::cluster::quorum::network;
use crate::cluster::rpc::{self, Reply};
use crate::protocol::header::{self, RequestHeader};
use crate::protocol::response;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub struct ControllerPlane {
    quorum: Arc<Quorum>,
    max_request_bytes: usize,
    /// The API handlers, once the node serves them.
    ctx: OnceLock<Arc<Context>>,
}

impl ControllerPlane {
    pub fn new(quorum: Arc<Quorum>, max_request_bytes: usize) -> ControllerPlane {
        ControllerPlane {
            quorum,
            max_request_bytes,
            ctx: OnceLock::new(),
        }
    }

    /// From now on Kafka's requests are answered too.
    pub fn serve_api(&self, ctx: Arc<Context>) {
        let _ = self.ctx.set(ctx);
    }

    pub fn max_request_bytes(&self) -> usize {
        self.max_request_bytes
    }

    /// Handles one request that arrived on a controller listener.
    pub async fn handle(&self, session: &Session, header: RequestHeader, body: Bytes) -> Outcome {
        if !header::is_internal(header.api_key) {
            return match self.ctx.get() {
                Some(ctx) => super::handle(ctx, session, header, body).await,
                None => Outcome::Close("this node is still starting".into()),
            };
        }
        if rpc::is_controller_request(header.api_key) {
            return self.serve_controller_request(&header, &body).await;
        }
        if !network::is_quorum_request(header.api_key) {
            return Outcome::Close(format!("unknown internal request {}", header.api_key));
        }
        match self.quorum.serve(header.api_key, &body).await {
            Ok(reply) => Outcome::Respond(response::raw(header.correlation_id, &reply)),
            Err(e) => {
                debug!(peer = %session.peer, error = %e, "refusing a quorum request");
                Outcome::Close(e.to_string())
            }
        }
    }
}

impl ControllerPlane {
    /// A broker's request of the active controller. Until this node serves, it redirects to the
    /// quorum leader it knows of.
    async fn serve_controller_request(&self, header: &RequestHeader, body: &[u8]) -> Outcome {
        fn reply<T: Serialize>(header: &RequestHeader, value: &Reply<T>) -> Outcome {
            match serde_json::to_vec(value) {
                Ok(bytes) => Outcome::Respond(response::raw(header.correlation_id, &bytes)),
                Err(e) => Outcome::Close(format!("cannot encode a controller reply: {e}")),
            }
        }
        fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Outcome> {
            serde_json::from_slice(body)
                .map_err(|e| Outcome::Close(format!("malformed controller request: {e}")))
        }
        let Some(ctx) = self.ctx.get() else {
            let not_yet: Reply<()> = Reply::NotController {
                leader: self.quorum.leader(),
            };
            return reply(header, &not_yet);
        };
        let controller = &ctx.controller;
        match header.api_key {
            rpc::REGISTER_BROKER => match decode(body) {
                Ok(registration) => reply(header, &controller.register_broker(registration).await),
                Err(close) => close,
            },
            rpc::BROKER_HEARTBEAT => match decode(body) {
                Ok(heartbeat) => reply(header, &controller.broker_heartbeat(heartbeat).await),
                Err(close) => close,
            },
            _ => match decode(body) {
                Ok(call) => reply(header, &controller.serve_call(call).await),
                Err(close) => close,
            },
        }
    }
}

/// An internal request on a client listener.
pub fn refuse(session: &Session, header: &RequestHeader) -> Outcome {
    Outcome::Close(format!(
        "internal request {} on listener {}, which is not a controller listener",
        header.api_key, session.listener
    ))
}
