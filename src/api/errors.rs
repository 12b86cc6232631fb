//! Kafka error codes for the broker's domain errors.

use kafka_protocol::error::ResponseError as E;

use crate::log::LogError;
use crate::log::producer_state::ProducerError;
use crate::partition::PartitionError;
use crate::record::batch::BatchError;

/// The error code a partition-level failure is reported with.
pub fn partition_error_code(error: &PartitionError) -> i16 {
    match error {
        PartitionError::UnknownTopicOrPartition => E::UnknownTopicOrPartition.code(),
        PartitionError::UnknownTopicId => E::UnknownTopicId.code(),
        PartitionError::NotLeaderOrFollower => E::NotLeaderOrFollower.code(),
        PartitionError::FencedLeaderEpoch { .. } => E::FencedLeaderEpoch.code(),
        PartitionError::UnknownLeaderEpoch { .. } => E::UnknownLeaderEpoch.code(),
        PartitionError::NotEnoughReplicas { .. } => E::NotEnoughReplicas.code(),
        PartitionError::Log(log) => log_error_code(log),
    }
}

pub fn log_error_code(error: &LogError) -> i16 {
    match error {
        LogError::Batch(BatchError::Corrupt(_)) => E::CorruptMessage.code(),
        LogError::Batch(BatchError::Invalid(_)) => E::InvalidRecord.code(),
        LogError::TooLarge { .. } => E::MessageTooLarge.code(),
        LogError::OffsetOutOfRange { .. } => E::OffsetOutOfRange.code(),
        LogError::NonContiguous { .. } => E::UnknownServerError.code(),
        LogError::Producer(ProducerError::InvalidEpoch { .. }) => E::InvalidProducerEpoch.code(),
        LogError::Producer(ProducerError::OutOfOrder { .. }) => E::OutOfOrderSequenceNumber.code(),
        LogError::Offline(_) | LogError::Io(_) => E::KafkaStorageError.code(),
    }
}
