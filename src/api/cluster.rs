//! DescribeCluster: the cluster id, the controller and the brokers, from the metadata image.
//! Asking for controller endpoints (v1 `endpoint_type` 2) gets UNSUPPORTED_ENDPOINT_TYPE, as from a
//! Kafka broker. UnregisterBroker: decommissioning a broker (`kafka-cluster unregister`).

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, UnregisterBrokerRequest,
    UnregisterBrokerResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::protocol::header::RequestHeader;

const BROKERS: i8 = 1;

pub async fn handle(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = ctx.replicas.image();
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(BrokerId(ctx.controller.reported_controller_id(&image)));
    if header.api_version >= 1 && request.endpoint_type != BROKERS {
        response.error_code = E::UnsupportedEndpointType.code();
        response.error_message = Some(StrBytes::from_static_str(
            "only broker endpoints are served",
        ));
        response.endpoint_type = request.endpoint_type;
        return response;
    }
    response.brokers = image
        .live_brokers()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    response
}

pub async fn unregister_broker(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    match ctx.controller.unregister_broker(request.broker_id.0).await {
        Ok(()) => UnregisterBrokerResponse::default(),
        Err(e) => UnregisterBrokerResponse::default()
            .with_error_code(e.code)
            .with_error_message(Some(StrBytes::from_string(e.message))),
    }
}
