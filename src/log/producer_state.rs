//! Idempotent-producer state of one partition: per producer id, its epoch and the last few batches
//! it wrote, so that a retried batch is recognised (and answered with its original offsets instead
//! of being written twice) and a gap in sequence numbers is refused.
//!
//! The rules follow Kafka: a producer the partition has no state for may start at any sequence; a
//! higher epoch must start at sequence 0; a lower epoch is fenced; within an epoch each batch must
//! continue the previous one's sequence (wrapping after `i32::MAX`). The last [`CACHED_BATCHES`]
//! batches of each producer are remembered for duplicate detection, as in Kafka's memory.
//!
//! The table lives with the log it describes and survives restarts the way Kafka's does: a
//! snapshot file `<offset>.snapshot` in the partition directory holds the state as of that offset
//! (written when a segment rolls and at a clean stop), and loading takes the newest snapshot not past
//! the log end and replays the batch headers after it. Unlike Kafka's snapshot, which keeps one
//! batch per producer, kafe's keeps all five, so a retry of any of them is still recognised after a
//! restart.
//!
//! Snapshot format (big-endian):
//!
//! ```text
//! magic "KPS1" | crc32c of the rest: u32 | producers: u32 | per producer:
//!   producer id i64 | epoch i16 | last seen (ms) i64 | batches u8 (at most 5) | per batch:
//!     first sequence i32 | last sequence i32 | first offset i64 | last offset i64 | log append time i64
//! ```

use std::collections::{HashMap, VecDeque};

use crate::record::batch::BatchHeader;

/// The name of the snapshot holding the state as of `offset`.
pub fn snapshot_file_name(offset: i64) -> String {
    format!("{offset:020}.snapshot")
}

/// The offset a snapshot file name stands for.
pub fn parse_snapshot_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".snapshot")?;
    (stem.len() == 20).then(|| stem.parse().ok()).flatten()
}

const MAGIC: &[u8; 4] = b"KPS1";
const PRODUCER_BYTES: usize = 8 + 2 + 8 + 1;
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;

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

#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Default, Clone, PartialEq, Eq)]
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

    /// Remembers a batch read back from the log (loading, or a follower copying its leader): its
    /// offsets and append time come from its header.
    pub fn replay(&mut self, batch: &BatchHeader, now_ms: i64) {
        let log_append_time = if batch.is_log_append_time() {
            batch.max_timestamp
        } else {
            -1
        };
        self.record(
            batch,
            batch.base_offset,
            batch.last_offset(),
            log_append_time,
            now_ms,
        );
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

    /// The table as snapshot bytes.
    pub fn encode(&self) -> Vec<u8> {
        let batches: usize = self.producers.values().map(|e| e.batches.len()).sum();
        let mut out =
            Vec::with_capacity(12 + self.producers.len() * PRODUCER_BYTES + batches * BATCH_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        for id in ids {
            let entry = &self.producers[id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&entry.epoch.to_be_bytes());
            out.extend_from_slice(&entry.last_seen_ms.to_be_bytes());
            out.push(entry.batches.len() as u8);
            for b in &entry.batches {
                out.extend_from_slice(&b.first_sequence.to_be_bytes());
                out.extend_from_slice(&b.last_sequence.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
                out.extend_from_slice(&b.log_append_time.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out[8..]);
        out[4..8].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads snapshot bytes. Every count is checked against the bytes that remain before anything
    /// is allocated; a torn or corrupt snapshot is refused.
    pub fn decode(bytes: &[u8]) -> Result<ProducerStateTable, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not a producer snapshot".into());
        }
        let crc = r.u32()?;
        if crc32c::crc32c(&bytes[8..]) != crc {
            return Err("producer snapshot fails its CRC".into());
        }
        let count = r.u32()? as usize;
        if count > r.remaining() / PRODUCER_BYTES {
            return Err(format!("{count} producers cannot fit the snapshot"));
        }
        let mut producers = HashMap::with_capacity(count);
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let last_seen_ms = r.i64()?;
            let n = usize::from(r.take(1)?[0]);
            if n > CACHED_BATCHES || n > r.remaining() / BATCH_BYTES {
                return Err(format!("producer {id} claims {n} batches"));
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchMetadata {
                    first_sequence: r.i32()?,
                    last_sequence: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    log_append_time: r.i64()?,
                });
            }
            producers.insert(
                id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_seen_ms,
                },
            );
        }
        if r.remaining() != 0 {
            return Err("producer snapshot has trailing bytes".into());
        }
        Ok(ProducerStateTable { producers })
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

/// Reads big-endian fields off a byte slice, refusing to run past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err("producer snapshot is truncated".into());
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(self.u32()? as i32)
    }

    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
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

    #[test]
    fn snapshots_round_trip_and_refuse_damage() {
        let mut table = ProducerStateTable::default();
        for i in 0..7 {
            table.record(&header(1, 0, i, 1), i64::from(i), i64::from(i), -1, 10);
        }
        table.record(&header(2, 3, 0, 4), 100, 103, 777, 20);
        let bytes = table.encode();
        let back = ProducerStateTable::decode(&bytes).unwrap();
        assert_eq!(back, table);
        // The last five batches of producer 1 survive, so any of them is still a duplicate.
        assert!(matches!(
            back.check(&header(1, 0, 2, 1)),
            Ok(SequenceCheck::Duplicate(_))
        ));
        for cut in [0, 3, 8, 11, bytes.len() - 1] {
            assert!(
                ProducerStateTable::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(ProducerStateTable::decode(&flipped).is_err());
        // A forged count cannot make the decoder allocate.
        let mut forged = bytes[..12].to_vec();
        forged[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&forged[8..]);
        forged[4..8].copy_from_slice(&crc.to_be_bytes());
        assert!(ProducerStateTable::decode(&forged).is_err());
        assert_eq!(parse_snapshot_file_name(&snapshot_file_name(42)), Some(42));
        assert_eq!(parse_snapshot_file_name("42.snapshot"), None);
    }
}
