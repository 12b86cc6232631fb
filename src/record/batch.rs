//! The v2 record batch ("magic 2") as the log stores it: a borrowed view of its 61-byte header,
//! validation (lengths, magic, CRC-32C), and the in-place patches a leader applies.
//!
//! Layout (big-endian), offsets in bytes from the start of the batch:
//!
//! ```text
//!  0 base offset         i64   \ outside the CRC: the leader patches base offset
//!  8 batch length        i32    | and partition leader epoch in place
//! 12 partition leader ep i32   /
//! 16 magic               i8    (= 2)
//! 17 crc                 u32   CRC-32C of bytes 21..end
//! 21 attributes          i16   bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control
//! 23 last offset delta   i32
//! 27 base timestamp      i64
//! 35 max timestamp       i64
//! 43 producer id         i64
//! 51 producer epoch      i16
//! 53 base sequence       i32
//! 57 records count       i32
//! 61 records ...
//! ```
//!
//! The batch length counts the bytes after the length field, so a batch occupies `12 + length` bytes.
//! Records are never decoded on the append path (compressed batches stay compressed); the one place
//! that looks inside is [`records_by_offset`], which walks a batch's records (decompressing a copy,
//! bounded) to answer a timestamp lookup exactly.

use std::fmt;

use super::compression;

/// Bytes before the batch length field's end: base offset (8) + length (4).
pub const LOG_OVERHEAD: usize = 12;
/// The fixed header of a v2 batch.
pub const HEADER_LEN: usize = 61;
/// The smallest legal value of the batch length field (a header with no records).
pub const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;

pub const BASE_OFFSET: usize = 0;
pub const LENGTH: usize = 8;
pub const LEADER_EPOCH: usize = 12;
pub const MAGIC: usize = 16;
pub const CRC: usize = 17;
pub const ATTRIBUTES: usize = 21;
pub const LAST_OFFSET_DELTA: usize = 23;
pub const BASE_TIMESTAMP: usize = 27;
pub const MAX_TIMESTAMP: usize = 35;
pub const PRODUCER_ID: usize = 43;
pub const PRODUCER_EPOCH: usize = 51;
pub const BASE_SEQUENCE: usize = 53;
pub const RECORDS_COUNT: usize = 57;

pub const MAGIC_V2: i8 = 2;
const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// Why a batch was refused. Each maps to one Kafka error code in the API layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Framing is broken: truncated, impossible length, wrong CRC (Kafka: CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// Well framed, but not something the log accepts (Kafka: INVALID_RECORD).
    #[error("invalid record batch: {0}")]
    Invalid(String),
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}
fn be_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}
fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}
fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

/// The decoded fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Reads the header from the first [`HEADER_LEN`] bytes of `buf`, checking only that they are
    /// there, the magic is 2 and the length is possible. The CRC is checked by [`validate`].
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Corrupt(format!(
                "{} bytes cannot hold a {HEADER_LEN}-byte batch header",
                buf.len()
            )));
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET),
            batch_length: be_i32(buf, LENGTH),
            partition_leader_epoch: be_i32(buf, LEADER_EPOCH),
            magic: buf[MAGIC] as i8,
            crc: be_u32(buf, CRC),
            attributes: be_i16(buf, ATTRIBUTES),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP),
            producer_id: be_i64(buf, PRODUCER_ID),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH),
            base_sequence: be_i32(buf, BASE_SEQUENCE),
            records_count: be_i32(buf, RECORDS_COUNT),
        };
        if header.magic != MAGIC_V2 {
            return Err(BatchError::Invalid(format!(
                "record batch magic {} is not supported, only magic 2",
                header.magic
            )));
        }
        if header.batch_length < MIN_BATCH_LENGTH {
            return Err(BatchError::Corrupt(format!(
                "batch length {} is below the minimum {MIN_BATCH_LENGTH}",
                header.batch_length
            )));
        }
        Ok(header)
    }

    /// Bytes the whole batch occupies, header included.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The offset right after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_BIT != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Whether the batch was written by an idempotent or transactional producer.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// The sequence number of the batch's last record, wrapping at `i32::MAX` as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// The CRC-32C a batch should carry: over attributes to the end.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES..])
}

/// Checks one whole batch: header, that `batch` is exactly the declared size, offsets and counts that
/// agree, and the CRC.
pub fn validate(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(batch)?;
    if header.total_size() != batch.len() {
        return Err(BatchError::Corrupt(format!(
            "batch declares {} bytes but {} are present",
            header.total_size(),
            batch.len()
        )));
    }
    if header.last_offset_delta < 0 {
        return Err(BatchError::Invalid(format!(
            "last offset delta {} is negative",
            header.last_offset_delta
        )));
    }
    let actual = compute_crc(batch);
    if actual != header.crc {
        return Err(BatchError::Corrupt(format!(
            "CRC-32C mismatch: header says {:#010x}, content gives {actual:#010x}",
            header.crc
        )));
    }
    Ok(header)
}

/// Checks what Kafka checks of a batch coming from a producer, beyond framing: a record count that
/// matches the offset span, no control batches, a sequence for every idempotent batch.
pub fn validate_client_batch(header: &BatchHeader) -> Result<(), BatchError> {
    if header.records_count <= 0 {
        return Err(BatchError::Invalid(format!(
            "record count {} must be positive",
            header.records_count
        )));
    }
    if i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1 {
        return Err(BatchError::Invalid(format!(
            "record count {} does not match last offset delta {}",
            header.records_count, header.last_offset_delta
        )));
    }
    if header.is_control() {
        return Err(BatchError::Invalid(
            "clients may not write control records".into(),
        ));
    }
    if header.has_producer_id() && header.base_sequence < 0 {
        return Err(BatchError::Invalid(format!(
            "producer id {} with invalid base sequence {}",
            header.producer_id, header.base_sequence
        )));
    }
    Ok(())
}

/// Splits a record set (batches back to back) into validated batches, CRCs included. Anything that
/// is not a run of whole, valid batches is an error; an empty set is an error too.
pub fn split_record_set(
    records: &[u8],
) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>, BatchError> {
    let batches = frame_record_set(records)?;
    for (_, range) in &batches {
        validate(&records[range.clone()])?;
    }
    Ok(batches)
}

/// Splits a record set into batches checking framing and headers only (lengths, magic), not CRCs:
/// for decisions that come before the one full validation of the append path.
pub fn frame_record_set(
    records: &[u8],
) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>, BatchError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let rest = &records[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(BatchError::Corrupt(format!(
                "{} trailing bytes are not a batch",
                rest.len()
            )));
        }
        let length = be_i32(rest, LENGTH);
        if length < MIN_BATCH_LENGTH || length as usize > rest.len() - LOG_OVERHEAD {
            return Err(BatchError::Corrupt(format!(
                "batch length {length} does not fit the {} bytes that remain",
                rest.len() - LOG_OVERHEAD
            )));
        }
        let size = LOG_OVERHEAD + length as usize;
        batches.push((BatchHeader::parse(&rest[..size])?, pos..pos + size));
        pos += size;
    }
    if batches.is_empty() {
        return Err(BatchError::Invalid("empty record set".into()));
    }
    Ok(batches)
}

/// The header bytes a leader writes in place of the producer's: the patched prefix of the batch.
///
/// Base offset and leader epoch lie outside the CRC, so patching them needs only the first 16 bytes.
/// With `log_append_time`, max timestamp and the timestamp-type attribute change too, which the CRC
/// covers, so the whole header is returned with a recomputed CRC.
pub struct PatchedHeader {
    bytes: [u8; HEADER_LEN],
    len: usize,
}

impl PatchedHeader {
    pub fn new(
        batch: &[u8],
        base_offset: i64,
        leader_epoch: i32,
        log_append_time: Option<i64>,
    ) -> Self {
        let mut bytes = [0u8; HEADER_LEN];
        bytes.copy_from_slice(&batch[..HEADER_LEN]);
        bytes[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
        bytes[LEADER_EPOCH..LEADER_EPOCH + 4].copy_from_slice(&leader_epoch.to_be_bytes());
        let len = match log_append_time {
            None => LEADER_EPOCH + 4,
            Some(now) => {
                let attributes = be_i16(&bytes, ATTRIBUTES) | TIMESTAMP_TYPE_BIT;
                bytes[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
                bytes[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now.to_be_bytes());
                let crc = crc32c::crc32c_append(
                    crc32c::crc32c(&bytes[ATTRIBUTES..HEADER_LEN]),
                    &batch[HEADER_LEN..],
                );
                bytes[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
                HEADER_LEN
            }
        };
        PatchedHeader { bytes, len }
    }

    /// The bytes that replace `batch[..len]`.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Reads a zig-zag varint (as records use) from `buf` at `*pos`.
fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for i in 0..10 {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

/// The (offset, timestamp) of each record of a batch, decompressing it if needed (bounded by
/// [`compression::MAX_DECOMPRESSED`]), or `None` if the records do not parse. Used to answer
/// timestamp lookups to the exact record, as Kafka does.
pub fn records_by_offset(batch: &[u8]) -> Option<Vec<(i64, i64)>> {
    let header = BatchHeader::parse(batch).ok()?;
    let body = batch.get(HEADER_LEN..header.total_size())?;
    let records = if header.compression() == 0 {
        std::borrow::Cow::Borrowed(body)
    } else {
        std::borrow::Cow::Owned(
            compression::decompress(header.compression(), body, compression::MAX_DECOMPRESSED)
                .ok()?,
        )
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < records.len() {
        let length = read_varlong(&records, &mut pos)?;
        let record_end = pos.checked_add(usize::try_from(length).ok()?)?;
        if record_end > records.len() {
            return None;
        }
        pos += 1; // record attributes
        let timestamp_delta = read_varlong(&records, &mut pos)?;
        let offset_delta = read_varlong(&records, &mut pos)?;
        let timestamp = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.saturating_add(timestamp_delta)
        };
        out.push((header.base_offset.saturating_add(offset_delta), timestamp));
        pos = record_end;
    }
    Some(out)
}

impl fmt::Display for BatchHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch [{}..={}] {} bytes",
            self.base_offset,
            self.last_offset(),
            self.total_size()
        )
    }
}

/// One record to put into a batch built by [`build`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NewRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
    /// Milliseconds after the batch's base timestamp.
    pub timestamp_delta: i64,
}

fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (raw & 0x7f) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_varbytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// The producer identity a batch carries (-1s for none).
#[derive(Debug, Clone, Copy)]
pub struct ProducerFields {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl ProducerFields {
    pub const NONE: ProducerFields = ProducerFields {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

/// Encodes an uncompressed v2 batch of `records` (at least one) with a correct CRC. The broker
/// writes its own internal records (cluster metadata, group offsets) this way.
pub fn build(
    base_offset: i64,
    base_timestamp: i64,
    producer: ProducerFields,
    records: &[NewRecord<'_>],
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut max_delta = 0;
    for (i, record) in records.iter().enumerate() {
        let mut r = vec![0u8]; // record attributes
        put_varlong(&mut r, record.timestamp_delta);
        put_varlong(&mut r, i as i64);
        put_varbytes(&mut r, record.key);
        put_varbytes(&mut r, record.value);
        put_varlong(&mut r, record.headers.len() as i64);
        for (name, value) in record.headers {
            put_varbytes(&mut r, Some(name.as_bytes()));
            put_varbytes(&mut r, *value);
        }
        put_varlong(&mut body, r.len() as i64);
        body.extend_from_slice(&r);
        max_delta = max_delta.max(record.timestamp_delta);
    }
    let count = records.len() as i32;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&base_offset.to_be_bytes());
    out.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    out.extend_from_slice(&(-1i32).to_be_bytes());
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(count - 1).max(0).to_be_bytes());
    out.extend_from_slice(&base_timestamp.to_be_bytes());
    out.extend_from_slice(&(base_timestamp + max_delta).to_be_bytes());
    out.extend_from_slice(&producer.producer_id.to_be_bytes());
    out.extend_from_slice(&producer.producer_epoch.to_be_bytes());
    out.extend_from_slice(&producer.base_sequence.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&body);
    let crc = compute_crc(&out);
    out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

/// One decoded record of an uncompressed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

fn read_varbytes(buf: &[u8], pos: &mut usize) -> Option<Option<Vec<u8>>> {
    let len = read_varlong(buf, pos)?;
    if len < 0 {
        return Some(None);
    }
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    let bytes = buf.get(*pos..end)?.to_vec();
    *pos = end;
    Some(Some(bytes))
}

/// Decodes the records of an uncompressed batch (keys and values; headers skipped), or `None` if
/// the batch is compressed or malformed. Used to replay the broker's own internal topics.
pub fn decode_records(batch: &[u8]) -> Option<Vec<DecodedRecord>> {
    let header = BatchHeader::parse(batch).ok()?;
    if header.compression() != 0 || batch.len() < header.total_size() {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    let end = header.total_size();
    while pos < end {
        let length = read_varlong(batch, &mut pos)?;
        let record_end = pos.checked_add(usize::try_from(length).ok()?)?;
        if record_end > end {
            return None;
        }
        pos += 1; // attributes
        let timestamp_delta = read_varlong(batch, &mut pos)?;
        let offset_delta = read_varlong(batch, &mut pos)?;
        let key = read_varbytes(batch, &mut pos)?;
        let value = read_varbytes(batch, &mut pos)?;
        out.push(DecodedRecord {
            offset: header.base_offset.saturating_add(offset_delta),
            timestamp: header.base_timestamp.saturating_add(timestamp_delta),
            key,
            value,
        });
        pos = record_end;
    }
    Some(out)
}

/// Builders of well-formed batches, for tests, benchmarks and load generation.
pub mod testing {
    use super::*;

    /// An uncompressed batch of `values` (null keys, no headers) with record `i` at `timestamp + i`.
    pub fn batch(base_offset: i64, timestamp: i64, values: &[&[u8]]) -> Vec<u8> {
        batch_with_producer(base_offset, timestamp, values, -1, -1, -1)
    }

    /// Like [`batch`], from an idempotent producer.
    pub fn batch_with_producer(
        base_offset: i64,
        timestamp: i64,
        values: &[&[u8]],
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Vec<u8> {
        let records: Vec<NewRecord<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| NewRecord {
                value: Some(v),
                timestamp_delta: i as i64,
                ..NewRecord::default()
            })
            .collect();
        let producer = ProducerFields {
            producer_id,
            producer_epoch,
            base_sequence,
        };
        build(base_offset, timestamp, producer, &records)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::batch;
    use super::*;

    #[test]
    fn a_built_batch_validates_and_reads_back() {
        let b = batch(0, 1_000, &[b"a", b"bb", b"ccc"]);
        let h = validate(&b).unwrap();
        assert_eq!(h.base_offset, 0);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.records_count, 3);
        assert_eq!(h.max_timestamp, 1_002);
        assert_eq!(h.total_size(), b.len());
        validate_client_batch(&h).unwrap();
        assert_eq!(
            records_by_offset(&b).unwrap(),
            vec![(0, 1_000), (1, 1_001), (2, 1_002)]
        );
    }

    #[test]
    fn every_flipped_byte_after_the_crc_is_caught() {
        let b = batch(0, 5, &[b"hello", b"world"]);
        for i in ATTRIBUTES..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x01;
            assert!(validate(&bad).is_err(), "flip at {i} went unnoticed");
        }
    }

    #[test]
    fn patching_offset_and_epoch_keeps_the_crc_valid() {
        let b = batch(0, 5, &[b"x"]);
        let patch = PatchedHeader::new(&b, 42, 7, None);
        let mut patched = b.clone();
        patched[..patch.bytes().len()].copy_from_slice(patch.bytes());
        let h = validate(&patched).unwrap();
        assert_eq!((h.base_offset, h.partition_leader_epoch), (42, 7));
    }

    #[test]
    fn log_append_time_rewrites_max_timestamp_and_crc() {
        let b = batch(0, 5, &[b"x", b"y"]);
        let patch = PatchedHeader::new(&b, 10, 1, Some(99_999));
        let mut patched = b.clone();
        patched[..patch.bytes().len()].copy_from_slice(patch.bytes());
        let h = validate(&patched).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 99_999);
        assert_eq!(
            records_by_offset(&patched).unwrap(),
            vec![(10, 99_999), (11, 99_999)]
        );
    }

    #[test]
    fn record_sets_split_into_batches_and_reject_garbage() {
        let mut set = batch(0, 1, &[b"a"]);
        set.extend_from_slice(&batch(0, 2, &[b"b", b"c"]));
        let parts = split_record_set(&set).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].0.records_count, 2);
        assert!(split_record_set(&set[..set.len() - 1]).is_err());
        assert!(split_record_set(&[]).is_err());
        let mut huge = set.clone();
        huge[LENGTH..LENGTH + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            split_record_set(&huge),
            Err(BatchError::Corrupt(_))
        ));
    }

    #[test]
    fn built_records_decode_back() {
        let records = [
            NewRecord {
                key: Some(b"k"),
                value: Some(b"v"),
                headers: &[("h", Some(b"x"))],
                timestamp_delta: 0,
            },
            NewRecord {
                key: None,
                value: None,
                headers: &[],
                timestamp_delta: 3,
            },
        ];
        let b = build(7, 100, ProducerFields::NONE, &records);
        validate(&b).unwrap();
        let decoded = decode_records(&b).unwrap();
        assert_eq!(
            decoded[0],
            DecodedRecord {
                offset: 7,
                timestamp: 100,
                key: Some(b"k".to_vec()),
                value: Some(b"v".to_vec())
            }
        );
        assert_eq!(
            decoded[1],
            DecodedRecord {
                offset: 8,
                timestamp: 103,
                key: None,
                value: None
            }
        );
        assert_eq!(BatchHeader::parse(&b).unwrap().max_timestamp, 103);
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        let mut h = BatchHeader::parse(&batch(0, 1, &[b"a", b"b"])).unwrap();
        h.base_sequence = i32::MAX;
        h.last_offset_delta = 1;
        assert_eq!(h.last_sequence(), 0);
    }
}
