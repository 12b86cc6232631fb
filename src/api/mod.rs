//! Request handlers, one module per API family, and the dispatcher that routes a decoded request to
//! them. Handlers translate between wire structs and the domain (partitions, metadata, logs); they do
//! no socket I/O, and file I/O only through the layers below.
//!
//! Every request body is first walked by the decode guard against its wire shape (see
//! [`crate::protocol::guard`]); only then does the generic decoder run.

pub mod api_versions;
pub mod cluster;
pub mod configs;
pub mod errors;
pub mod fetch;
pub mod fetch_session;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
pub mod producer_ids;
pub mod records;
pub mod topics;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};
use tracing::debug;

use crate::cluster::MetadataStore;
use crate::config::BrokerConfig;
use crate::log::LogManager;
use crate::partition::ReplicaManager;
use crate::protocol::header::RequestHeader;
use crate::protocol::response::{self, Response};
use crate::protocol::{guard, shapes, versions};

/// Everything handlers work with.
pub struct Context {
    pub config: Arc<BrokerConfig>,
    pub logs: Arc<LogManager>,
    pub metadata: Arc<MetadataStore>,
    pub replicas: Arc<ReplicaManager>,
    pub fetch_sessions: fetch_session::SessionCache,
    pub producer_ids: producer_ids::ProducerIdAllocator,
    /// Serialises metadata changes that check the image and then commit (topic creation and
    /// deletion), so two requests cannot both create the same topic.
    pub admin: tokio::sync::Mutex<()>,
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

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn decode<T: Decodable>(body: &Bytes, version: i16) -> Result<T, String> {
    let mut buf = body.clone();
    T::decode(&mut buf, version).map_err(|e| format!("cannot decode request: {e}"))
}

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
pub async fn handle(ctx: &Arc<Context>, header: RequestHeader, body: Bytes) -> Outcome {
    let Ok(key) = ApiKey::try_from(header.api_key) else {
        return Outcome::Close(format!("unknown API key {}", header.api_key));
    };
    if !versions::is_supported(header.api_key, header.api_version) {
        if key == ApiKey::ApiVersions {
            return api_versions::unsupported_version(&header);
        }
        return Outcome::Close(format!("{key:?} v{} is not supported", header.api_version));
    }
    if let Some(shape) = shapes::request_shape(header.api_key)
        && let Err(e) = guard::check_body(shape, header.api_version, &body)
    {
        debug!(api = ?key, version = header.api_version, error = %e, "closing connection: malformed request");
        return Outcome::Close(format!("{key:?}: {e}"));
    }
    let version = header.api_version;
    macro_rules! run {
        ($module:ident, $request:ty) => {{
            let request: $request = match decode(&body, version) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(e),
            };
            let reply = $module::handle(ctx, &header, request).await;
            respond(key, &header, &reply)
        }};
    }
    use kafka_protocol::messages as m;
    match key {
        ApiKey::ApiVersions => {
            let request: m::ApiVersionsRequest = match decode(&body, version) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(e),
            };
            respond(key, &header, &api_versions::handle(&header, &request))
        }
        ApiKey::Produce => {
            let request: m::ProduceRequest = match decode(&body, version) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(e),
            };
            match produce::handle(ctx, &header, request).await {
                produce::Reply::Response(reply) => respond(key, &header, &reply),
                produce::Reply::None => Outcome::NoResponse,
                produce::Reply::Close(why) => Outcome::Close(why),
            }
        }
        ApiKey::Fetch => {
            let request: m::FetchRequest = match decode(&body, version) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(e),
            };
            let result = fetch::handle(ctx, &header, request).await;
            Outcome::Respond(crate::protocol::fetch_encoder::encode(
                &result,
                version,
                header.correlation_id,
            ))
        }
        ApiKey::Metadata => run!(metadata, m::MetadataRequest),
        ApiKey::ListOffsets => run!(list_offsets, m::ListOffsetsRequest),
        ApiKey::CreateTopics => {
            let request: m::CreateTopicsRequest = match decode(&body, version) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(e),
            };
            respond(
                key,
                &header,
                &topics::create_topics(ctx, &header, request).await,
            )
        }
        ApiKey::DeleteTopics => {
            let request: m::DeleteTopicsRequest = match decode(&body, version) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(e),
            };
            respond(
                key,
                &header,
                &topics::delete_topics(ctx, &header, request).await,
            )
        }
        ApiKey::CreatePartitions => {
            let request: m::CreatePartitionsRequest = match decode(&body, version) {
                Ok(r) => r,
                Err(e) => return Outcome::Close(e),
            };
            respond(
                key,
                &header,
                &topics::create_partitions(ctx, &header, request).await,
            )
        }
        ApiKey::DeleteRecords => run!(records, m::DeleteRecordsRequest),
        ApiKey::DescribeConfigs => run!(configs, m::DescribeConfigsRequest),
        ApiKey::DescribeCluster => run!(cluster, m::DescribeClusterRequest),
        ApiKey::InitProducerId => run!(producer_ids, m::InitProducerIdRequest),
        other => Outcome::Close(format!(
            "{other:?} is in the version table but has no handler"
        )),
    }
}
