//! Kafka error codes for the broker's domain errors, and the topic-name rules shared by handlers.

use kafka_protocol::error::ResponseError as E;

use crate::log::LogError;
use crate::log::producer_state::ProducerError;
use crate::partition::PartitionError;
use crate::record::batch::BatchError;

/// The error code a partition-level failure is reported with.
pub fn partition_error_code(error: &PartitionError) -> i16 {
    match error {
        PartitionError::NotLeader => E::NotLeaderOrFollower.code(),
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

/// The longest legal topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks a topic name against Kafka's rules: 1 to 249 characters of `[a-zA-Z0-9._-]`, and not
/// `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("topic name cannot be {name:?}"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(format!(
            "topic name is longer than {MAX_TOPIC_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name {name:?} contains {bad:?}; legal characters are ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Whether two topic names collide once '.' and '_' are treated alike (Kafka's metric names do).
pub fn names_collide(a: &str, b: &str) -> bool {
    a != b && a.replace('.', "_") == b.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["orders", "a.b-c_d", "X9", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "é", "a/b", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
        assert!(names_collide("a.b", "a_b"));
        assert!(!names_collide("a.b", "a.b"));
    }
}
