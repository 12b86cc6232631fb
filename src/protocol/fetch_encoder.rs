//! The Fetch response encoder (versions 4 to 16): header and per-partition fields are encoded into
//! byte chunks, and each partition's records are a file region spliced between them, so records go
//! from the segment file to the socket untouched.
//!
//! Layout: `throttle_time_ms`, then from v7 `error_code` and `session_id`, then the topics (name up
//! to v12, topic id from v13), each with its partitions: index, error code, high watermark, last
//! stable offset, log start offset (v5+), aborted transactions (nullable array), preferred read
//! replica (v11+) and the records (nullable bytes). From v12 arrays, strings and bytes use compact
//! (varint) lengths and every struct ends in a tagged-field section; none are sent.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::ApiKey;
use uuid::Uuid;

use super::response::{Chunk, Response, put_header};
use crate::record::FileRegion;

#[derive(Debug, Clone)]
pub struct FetchedPartition {
    pub index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// `None`: sent as a null array (read_uncommitted); `Some`: the (producer id, first offset) list.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// The records; `None` is sent as an empty record set (length 0), never as null.
    pub records: Option<FileRegion>,
}

#[derive(Debug, Clone)]
pub struct FetchedTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<FetchedPartition>,
}

#[derive(Debug, Clone, Default)]
pub struct FetchResult {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    pub session_id: i32,
    pub topics: Vec<FetchedTopic>,
}

/// Accumulates byte chunks and file regions in order.
struct Builder {
    chunks: Vec<Chunk>,
    buf: BytesMut,
    flexible: bool,
}

impl Builder {
    fn splice(&mut self, region: FileRegion) {
        let bytes = std::mem::take(&mut self.buf).freeze();
        if !bytes.is_empty() {
            self.chunks.push(Chunk::Bytes(bytes));
        }
        if region.len > 0 {
            self.chunks.push(Chunk::File(region));
        }
        self.buf = BytesMut::with_capacity(256);
    }

    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// An array length (`None`: null).
    fn array_len(&mut self, len: Option<usize>) {
        match (self.flexible, len) {
            (true, None) => self.uvarint(0),
            (true, Some(n)) => self.uvarint(n as u64 + 1),
            (false, None) => self.buf.put_i32(-1),
            (false, Some(n)) => self.buf.put_i32(n as i32),
        }
    }

    fn string(&mut self, s: &str) {
        if self.flexible {
            self.uvarint(s.len() as u64 + 1);
        } else {
            self.buf.put_i16(s.len() as i16);
        }
        self.buf.put_slice(s.as_bytes());
    }

    fn no_tags(&mut self) {
        if self.flexible {
            self.buf.put_u8(0);
        }
    }
}

/// Encodes a whole Fetch response frame for `version` (4..=16).
pub fn encode(result: &FetchResult, version: i16, correlation_id: i32) -> Response {
    let mut b = Builder {
        chunks: Vec::new(),
        buf: BytesMut::with_capacity(1024),
        flexible: version >= 12,
    };
    b.buf.put_i32(0); // size, patched below
    put_header(&mut b.buf, ApiKey::Fetch, version, correlation_id);
    b.buf.put_i32(result.throttle_time_ms);
    if version >= 7 {
        b.buf.put_i16(result.error_code);
        b.buf.put_i32(result.session_id);
    }
    b.array_len(Some(result.topics.len()));
    for topic in &result.topics {
        if version >= 13 {
            b.buf.put_slice(topic.topic_id.as_bytes());
        } else {
            b.string(&topic.name);
        }
        b.array_len(Some(topic.partitions.len()));
        for p in &topic.partitions {
            b.buf.put_i32(p.index);
            b.buf.put_i16(p.error_code);
            b.buf.put_i64(p.high_watermark);
            b.buf.put_i64(p.last_stable_offset);
            if version >= 5 {
                b.buf.put_i64(p.log_start_offset);
            }
            match &p.aborted_transactions {
                None => b.array_len(None),
                Some(list) => {
                    b.array_len(Some(list.len()));
                    for (producer_id, first_offset) in list {
                        b.buf.put_i64(*producer_id);
                        b.buf.put_i64(*first_offset);
                        b.no_tags();
                    }
                }
            }
            if version >= 11 {
                b.buf.put_i32(-1); // preferred read replica: none
            }
            let len = p.records.as_ref().map_or(0, |r| r.len);
            if b.flexible {
                b.uvarint(len + 1);
            } else {
                b.buf.put_i32(len as i32);
            }
            if let Some(region) = &p.records {
                b.splice(region.clone());
            }
            b.no_tags();
        }
        b.no_tags();
    }
    b.no_tags();
    let tail = std::mem::take(&mut b.buf).freeze();
    if !tail.is_empty() {
        b.chunks.push(Chunk::Bytes(tail));
    }
    let total: u64 = b.chunks.iter().map(Chunk::len).sum();
    let size = (total - 4) as i32;
    if let Some(Chunk::Bytes(first)) = b.chunks.first_mut() {
        let mut patched = BytesMut::from(&first[..]);
        patched[..4].copy_from_slice(&size.to_be_bytes());
        *first = patched.freeze();
    }
    Response { chunks: b.chunks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::messages::{FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::sync::Arc;

    fn materialise(response: &Response) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in &response.chunks {
            match chunk {
                Chunk::Bytes(b) => out.extend_from_slice(b),
                Chunk::File(r) => {
                    let mut buf = vec![0u8; r.len as usize];
                    r.file.read_exact_at(&mut buf, r.position).unwrap();
                    out.extend_from_slice(&buf);
                }
            }
        }
        out
    }

    #[test]
    fn every_version_decodes_with_the_reference_codec() {
        let mut file = tempfile::tempfile().unwrap();
        let records = crate::record::batch::testing::batch(5, 1000, &[b"hello", b"world"]);
        file.write_all(b"junk").unwrap();
        file.write_all(&records).unwrap();
        let region = FileRegion {
            file: Arc::new(file),
            position: 4,
            len: records.len() as u64,
        };
        let topic_id = Uuid::new_v4();
        let result = FetchResult {
            throttle_time_ms: 0,
            error_code: 0,
            session_id: 77,
            topics: vec![FetchedTopic {
                name: "orders".into(),
                topic_id,
                partitions: vec![
                    FetchedPartition {
                        index: 0,
                        error_code: 0,
                        high_watermark: 7,
                        last_stable_offset: 7,
                        log_start_offset: 0,
                        aborted_transactions: None,
                        records: Some(region),
                    },
                    FetchedPartition {
                        index: 1,
                        error_code: 1,
                        high_watermark: 3,
                        last_stable_offset: 3,
                        log_start_offset: 2,
                        aborted_transactions: Some(vec![]),
                        records: None,
                    },
                ],
            }],
        };
        for version in 4..=16 {
            let response = encode(&result, version, 9);
            let wire = materialise(&response);
            assert_eq!(
                i32::from_be_bytes(wire[..4].try_into().unwrap()) as usize,
                wire.len() - 4
            );
            let mut body = Bytes::copy_from_slice(&wire[4..]);
            let header =
                ResponseHeader::decode(&mut body, ApiKey::Fetch.response_header_version(version))
                    .unwrap();
            assert_eq!(header.correlation_id, 9);
            let decoded = FetchResponse::decode(&mut body, version).unwrap();
            assert!(
                body.is_empty(),
                "v{version}: {} bytes left over",
                body.len()
            );
            if version >= 7 {
                assert_eq!(decoded.session_id, 77);
            }
            let t = &decoded.responses[0];
            if version >= 13 {
                assert_eq!(t.topic_id, topic_id);
            } else {
                assert_eq!(t.topic.0.as_str(), "orders");
            }
            assert_eq!(t.partitions[0].records.as_deref(), Some(&records[..]));
            assert_eq!(t.partitions[0].high_watermark, 7);
            assert_eq!(t.partitions[1].error_code, 1);
            assert_eq!(
                t.partitions[1].records.as_deref(),
                Some(&b""[..]),
                "empty, not null"
            );
            if version >= 5 {
                assert_eq!(t.partitions[1].log_start_offset, 2);
            }
            assert!(t.partitions[0].aborted_transactions.is_none());
            assert_eq!(
                t.partitions[1].aborted_transactions.as_ref().map(Vec::len),
                Some(0)
            );
        }
    }
}
