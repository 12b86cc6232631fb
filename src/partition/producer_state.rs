//! Idempotent-producer state of one partition: per producer id, its epoch and the last few batches
//! it wrote, so that a retried batch is recognised (and answered with its original offsets instead
//! of being written twice) and a gap in sequence numbers is refused.
//!
//! The rules follow Kafka: a producer the partition has no state for may start at any sequence; a
//! higher epoch must start at sequence 0; a lower epoch is fenced; within an epoch each batch must
//! continue the previous one's sequence (wrapping after `i32::MAX`). Only the last
//! [`CACHED_BATCHES`] batches are remembered for duplicate detection, as in Kafka.

use std::collections::{HashMap, VecDeque};

use crate::record::batch::BatchHeader;

/// How many recent batches per producer are kept for duplicate detection.
pub const CACHED_BATCHES: usize = 5;

/// A batch a producer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub log_append_time: i64,
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
    last_seen_ms: i64,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New data: append it.
    Append,
    /// Already written: answer with these offsets.
    Duplicate(BatchMetadata),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("producer epoch {got} is older than the current epoch {current}")]
    InvalidEpoch { current: i16, got: i16 },
    #[error("out of order sequence number: expected {expected}, got {got}")]
    OutOfOrder { expected: i32, got: i32 },
}

#[derive(Debug, Default)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (last == i32::MAX && next == 0)
}

impl ProducerStateTable {
    /// Decides whether the batch is new, a duplicate, or refused.
    pub fn check(&self, batch: &BatchHeader) -> Result<SequenceCheck, ProducerError> {
        if !batch.has_producer_id() {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if batch.producer_epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                current: entry.epoch,
                got: batch.producer_epoch,
            });
        }
        if batch.producer_epoch > entry.epoch {
            return if batch.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ProducerError::OutOfOrder {
                    expected: 0,
                    got: batch.base_sequence,
                })
            };
        }
        if let Some(done) = entry.batches.iter().find(|b| {
            b.first_sequence == batch.base_sequence && b.last_sequence == batch.last_sequence()
        }) {
            return Ok(SequenceCheck::Duplicate(*done));
        }
        match entry.batches.back() {
            Some(last) if !in_sequence(last.last_sequence, batch.base_sequence) => {
                Err(ProducerError::OutOfOrder {
                    expected: last.last_sequence.wrapping_add(1).max(0),
                    got: batch.base_sequence,
                })
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Remembers a batch that was appended at `first_offset..=last_offset`.
    pub fn record(
        &mut self,
        batch: &BatchHeader,
        first_offset: i64,
        last_offset: i64,
        log_append_time: i64,
        now_ms: i64,
    ) {
        if !batch.has_producer_id() {
            return;
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.producer_epoch,
                batches: VecDeque::new(),
                last_seen_ms: now_ms,
            });
        if batch.producer_epoch != entry.epoch {
            entry.epoch = batch.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == CACHED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_sequence: batch.base_sequence,
            last_sequence: batch.last_sequence(),
            first_offset,
            last_offset,
            log_append_time,
        });
        entry.last_seen_ms = now_ms;
    }

    /// Forgets producers not seen for `idle_ms` (`producer.id.expiration.ms`).
    pub fn expire(&mut self, now_ms: i64, idle_ms: i64) {
        self.producers
            .retain(|_, e| now_ms - e.last_seen_ms < idle_ms);
    }

    /// Forgets everything at or after `offset` (after a truncation).
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::batch::testing::batch_with_producer;

    fn header(pid: i64, epoch: i16, seq: i32, records: usize) -> BatchHeader {
        let values: Vec<&[u8]> = (0..records).map(|_| &b"x"[..]).collect();
        BatchHeader::parse(&batch_with_producer(0, 0, &values, pid, epoch, seq)).unwrap()
    }

    #[test]
    fn sequences_must_continue_and_retries_are_recognised() {
        let mut table = ProducerStateTable::default();
        let first = header(1, 0, 0, 3);
        assert_eq!(table.check(&first), Ok(SequenceCheck::Append));
        table.record(&first, 10, 12, -1, 0);
        // The same batch again: a duplicate, answered with its offsets.
        match table.check(&first) {
            Ok(SequenceCheck::Duplicate(meta)) => {
                assert_eq!((meta.first_offset, meta.last_offset), (10, 12))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(table.check(&header(1, 0, 3, 1)), Ok(SequenceCheck::Append));
        assert_eq!(
            table.check(&header(1, 0, 5, 1)),
            Err(ProducerError::OutOfOrder {
                expected: 3,
                got: 5
            })
        );
    }

    #[test]
    fn epochs_fence_old_producers_and_restart_sequences() {
        let mut table = ProducerStateTable::default();
        table.record(&header(1, 2, 0, 1), 0, 0, -1, 0);
        assert!(matches!(
            table.check(&header(1, 1, 1, 1)),
            Err(ProducerError::InvalidEpoch { .. })
        ));
        assert!(matches!(
            table.check(&header(1, 3, 4, 1)),
            Err(ProducerError::OutOfOrder { .. })
        ));
        assert_eq!(table.check(&header(1, 3, 0, 1)), Ok(SequenceCheck::Append));
        // Unknown producers may start anywhere (their state may have been lost to a restart).
        assert_eq!(table.check(&header(9, 0, 77, 1)), Ok(SequenceCheck::Append));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut table = ProducerStateTable::default();
        for i in 0..7 {
            table.record(&header(1, 0, i, 1), i64::from(i), i64::from(i), -1, 0);
        }
        assert_eq!(
            table
                .check(&header(1, 0, 6, 1))
                .map(|c| matches!(c, SequenceCheck::Duplicate(_))),
            Ok(true)
        );
        assert!(table.check(&header(1, 0, 1, 1)).is_err());
        table.expire(100, 50);
        assert!(table.is_empty());
    }

    #[test]
    fn sequences_wrap_at_int_max() {
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(4, 5));
        assert!(!in_sequence(4, 6));
    }
}
