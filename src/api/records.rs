//! DeleteRecords: raise partitions' log start offsets (offset -1 means the high watermark). Whole
//! segments below the new start are deleted and the log start offset checkpoint is written before
//! the response, so the deletion holds across a crash.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use tracing::error;

use super::Context;
use super::errors::partition_error_code;
use crate::partition::TopicRef;
use crate::protocol::header::RequestHeader;

pub async fn handle(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut changed = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let mut result = DeleteRecordsPartitionResult::default()
                .with_partition_index(p.partition_index)
                .with_low_watermark(-1);
            let deleted = ctx
                .replicas
                .leader(TopicRef::Name(name), p.partition_index, None)
                .and_then(|partition| partition.delete_records_before(p.offset));
            match deleted {
                Ok(low) => {
                    result.low_watermark = low;
                    changed = true;
                }
                Err(e) => result.error_code = partition_error_code(&e),
            }
            partitions.push(result);
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    if changed {
        let logs = Arc::clone(&ctx.logs);
        let written = tokio::task::spawn_blocking(move || logs.write_log_start_checkpoint()).await;
        if !matches!(written, Ok(Ok(()))) {
            error!("could not write the log start offset checkpoint after DeleteRecords");
            for t in &mut topics {
                for p in &mut t.partitions {
                    if p.error_code == 0 {
                        p.error_code = E::KafkaStorageError.code();
                    }
                }
            }
        }
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
