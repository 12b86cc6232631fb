//! InitProducerId for idempotent producers, and the producer id allocator behind it.
//!
//! Ids come from blocks of 1,000 the controller reserves in the metadata log, so no id is ever
//! handed out twice, even across restarts, and the metadata log grows by one record per block
//! rather than per producer. Every idempotent producer that asks gets a fresh id with epoch 0, as in
//! Kafka. Transactional ids are refused: transactions are not implemented.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::error;

use super::Context;
use crate::cluster::{ApiError, Controller};
use crate::protocol::header::RequestHeader;

#[derive(Default)]
pub struct ProducerIdAllocator {
    /// (next id to hand out, end of the reserved block)
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIdAllocator {
    pub async fn next(&self, controller: &Controller) -> Result<i64, ApiError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            *block = controller.allocate_producer_ids().await?;
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}

pub async fn handle(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match &request.transactional_id {
        None => {}
        Some(id) if id.0.is_empty() => return response.with_error_code(E::InvalidRequest.code()),
        Some(_) => return response.with_error_code(E::TransactionalIdAuthorizationFailed.code()),
    }
    match ctx.producer_ids.next(&ctx.controller).await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            error!(code = e.code, message = %e.message, "could not reserve producer ids");
            response.with_error_code(e.code)
        }
    }
}
