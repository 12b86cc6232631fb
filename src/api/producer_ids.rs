//! InitProducerId for idempotent producers, and the producer id allocator behind it.
//!
//! Ids come from blocks of 1,000 reserved in the metadata log (a `ProducerIds` record), so no id is
//! ever handed out twice, even across restarts, and the metadata log grows by one record per block
//! rather than per producer. Every idempotent producer that asks gets a fresh id with epoch 0, as in
//! Kafka. Transactional ids are refused: transactions are not implemented.

use std::io;
use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tracing::error;

use super::{Context, now_ms};
use crate::cluster::{MetadataRecord, MetadataStore};
use crate::protocol::header::RequestHeader;

pub const BLOCK_SIZE: i64 = 1000;

#[derive(Default)]
pub struct ProducerIdAllocator {
    /// (next id to hand out, end of the reserved block)
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIdAllocator {
    pub async fn next(&self, metadata: &MetadataStore) -> io::Result<i64> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let start = metadata.image().next_producer_id;
            metadata
                .commit(
                    vec![MetadataRecord::ProducerIds {
                        next_producer_id: start + BLOCK_SIZE,
                    }],
                    now_ms(),
                )
                .await?;
            *block = (start, start + BLOCK_SIZE);
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
    match ctx.producer_ids.next(&ctx.metadata).await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            error!(error = %e, "could not reserve producer ids");
            response.with_error_code(E::KafkaStorageError.code())
        }
    }
}
