//! Request handlers, one module per API family, and the dispatcher that routes a decoded request to
//! them. Handlers translate between wire structs and the domain (partitions, metadata, logs); they do
//! no socket I/O, and file I/O only through the layers below.
//!
//! Every request body is first walked by the decode guard against its wire shape (see
//! [`crate::protocol::guard`]); only then does the generic decoder run.

pub mod api_versions;
pub mod cluster;
pub mod configs;
pub mod epochs;
pub mod errors;
pub mod fetch;
pub mod fetch_session;
pub mod groups;
pub mod internal;
pub mod leaders;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod producer_ids;
pub mod quorum;
pub mod records;
pub mod session;
pub mod topics;

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind};
use kafka_protocol::protocol::Encodable;
use tracing::debug;

use crate::cluster::Controller;
use crate::config::BrokerConfig;
use crate::group::coordinator::GroupCoordinator;
use crate::log::LogManager;
use crate::partition::ReplicaManager;
use crate::protocol::header::RequestHeader;
use crate::protocol::response::{self, Response};
use crate::protocol::versions;

/// Everything handlers work with.
pub struct Context {
    pub config: Arc<BrokerConfig>,
    pub logs: Arc<LogManager>,
    /// Every metadata change goes through it.
    pub controller: Arc<Controller>,
    /// Partitions by the broker's own view of the metadata (its last published image).
    pub replicas: Arc<ReplicaManager>,
    pub groups: Arc<GroupCoordinator>,
    pub fetch_sessions: fetch_session::SessionCache,
    pub producer_ids: producer_ids::ProducerIdAllocator,
    /// Set at shutdown: waiting fetches and produces return at once.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
}

/// What the connection does after a request.
#[derive(Debug)]
pub enum Outcome {
    Respond(Response),
    /// acks=0 produce: nothing is sent back.
    NoResponse,
    /// Kafka's answer to what cannot be answered: close the connection.
    Close(String),
}

pub use crate::clock::now_ms;

fn respond<M: Encodable>(key: ApiKey, header: &RequestHeader, message: &M) -> Outcome {
    match response::encode(key, header.api_version, header.correlation_id, message) {
        Ok(r) => Outcome::Respond(r),
        Err(e) => Outcome::Close(format!(
            "cannot encode {key:?} v{} response: {e}",
            header.api_version
        )),
    }
}

/// Handles one request.
pub async fn handle(
    ctx: &Arc<Context>,
    session: &session::Session,
    header: RequestHeader,
    body: Bytes,
) -> Outcome {
    if crate::protocol::header::is_internal(header.api_key) {
        return internal::refuse(session, &header);
    }
    let Ok(key) = ApiKey::try_from(header.api_key) else {
        return Outcome::Close(format!("unknown API key {}", header.api_key));
    };
    if !versions::is_supported(header.api_key, header.api_version) {
        if key == ApiKey::ApiVersions {
            return api_versions::unsupported_version(&header);
        }
        return Outcome::Close(format!("{key:?} v{} is not supported", header.api_version));
    }
    let request = match crate::protocol::request::decode(header.api_key, header.api_version, &body)
    {
        Ok(r) => r,
        Err(e) => {
            debug!(api = ?key, version = header.api_version, error = %e,
                body = ?&body[..body.len().min(64)], "closing connection: malformed request");
            return Outcome::Close(e);
        }
    };
    let version = header.api_version;
    match request {
        RequestKind::ApiVersions(r) => respond(key, &header, &api_versions::handle(&header, &r)),
        RequestKind::Produce(r) => match produce::handle(ctx, &header, r).await {
            produce::Reply::Response(reply) => respond(key, &header, &reply),
            produce::Reply::None => Outcome::NoResponse,
            produce::Reply::Close(why) => Outcome::Close(why),
        },
        RequestKind::Fetch(r) => {
            let result = fetch::handle(ctx, &header, r).await;
            Outcome::Respond(crate::protocol::fetch_encoder::encode(
                &result,
                version,
                header.correlation_id,
            ))
        }
        RequestKind::Metadata(r) => respond(key, &header, &metadata::handle(ctx, &header, r).await),
        RequestKind::ListOffsets(r) => {
            respond(key, &header, &list_offsets::handle(ctx, &header, r).await)
        }
        RequestKind::CreateTopics(r) => {
            respond(key, &header, &topics::create_topics(ctx, &header, r).await)
        }
        RequestKind::DeleteTopics(r) => {
            respond(key, &header, &topics::delete_topics(ctx, &header, r).await)
        }
        RequestKind::CreatePartitions(r) => respond(
            key,
            &header,
            &topics::create_partitions(ctx, &header, r).await,
        ),
        RequestKind::DeleteRecords(r) => {
            respond(key, &header, &records::handle(ctx, &header, r).await)
        }
        RequestKind::DescribeConfigs(r) => {
            respond(key, &header, &configs::handle(ctx, &header, r).await)
        }
        RequestKind::DescribeCluster(r) => {
            respond(key, &header, &cluster::handle(ctx, &header, r).await)
        }
        RequestKind::UnregisterBroker(r) => respond(
            key,
            &header,
            &cluster::unregister_broker(ctx, &header, r).await,
        ),
        RequestKind::DescribeQuorum(r) => {
            respond(key, &header, &quorum::handle(ctx, &header, r).await)
        }
        RequestKind::ElectLeaders(r) => {
            respond(key, &header, &leaders::handle(ctx, &header, r).await)
        }
        RequestKind::InitProducerId(r) => {
            respond(key, &header, &producer_ids::handle(ctx, &header, r).await)
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            respond(key, &header, &epochs::handle(ctx, &header, r).await)
        }
        RequestKind::FindCoordinator(r) => respond(
            key,
            &header,
            &groups::find_coordinator(ctx, &header, r).await,
        ),
        RequestKind::JoinGroup(r) => respond(
            key,
            &header,
            &groups::join_group(ctx, &header, session.peer, r).await,
        ),
        RequestKind::SyncGroup(r) => {
            respond(key, &header, &groups::sync_group(ctx, &header, r).await)
        }
        RequestKind::Heartbeat(r) => {
            respond(key, &header, &groups::heartbeat(ctx, &header, r).await)
        }
        RequestKind::LeaveGroup(r) => {
            respond(key, &header, &groups::leave_group(ctx, &header, r).await)
        }
        RequestKind::DescribeGroups(r) => respond(
            key,
            &header,
            &groups::describe_groups(ctx, &header, r).await,
        ),
        RequestKind::ListGroups(r) => {
            respond(key, &header, &groups::list_groups(ctx, &header, r).await)
        }
        RequestKind::DeleteGroups(r) => {
            respond(key, &header, &groups::delete_groups(ctx, &header, r).await)
        }
        RequestKind::OffsetCommit(r) => {
            respond(key, &header, &offsets::offset_commit(ctx, &header, r).await)
        }
        RequestKind::OffsetFetch(r) => {
            respond(key, &header, &offsets::offset_fetch(ctx, &header, r).await)
        }
        RequestKind::OffsetDelete(r) => {
            respond(key, &header, &offsets::offset_delete(ctx, &header, r).await)
        }
        _ => Outcome::Close(format!(
            "{key:?} is in the version table but has no handler"
        )),
    }
}
