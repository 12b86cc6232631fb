//! Encoded responses as the connection writes them: a list of chunks, each either bytes or a region
//! of a segment file that goes out with `sendfile`, so record data is never copied through user
//! space. The first chunk starts with the 4-byte size prefix covering everything after it.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;

use crate::record::FileRegion;

#[derive(Debug, Clone)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileRegion),
}

impl Chunk {
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Bytes(b) => b.len() as u64,
            Chunk::File(r) => r.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One response frame.
#[derive(Debug, Clone)]
pub struct Response {
    pub chunks: Vec<Chunk>,
}

impl Response {
    /// Bytes on the wire, size prefix included.
    pub fn wire_len(&self) -> u64 {
        self.chunks.iter().map(Chunk::len).sum()
    }
}

/// Writes the response header for `api_key`/`version`: the correlation id, plus an empty
/// tagged-field section for header v1.
pub fn put_header(buf: &mut BytesMut, api_key: ApiKey, version: i16, correlation_id: i32) {
    buf.put_i32(correlation_id);
    if api_key.response_header_version(version) >= 1 {
        buf.put_u8(0);
    }
}

/// A response frame with header v0 and `body` as it is (kafe's internal requests).
pub fn raw(correlation_id: i32, body: &[u8]) -> Response {
    let mut buf = BytesMut::with_capacity(8 + body.len());
    buf.put_i32((4 + body.len()) as i32);
    buf.put_i32(correlation_id);
    buf.extend_from_slice(body);
    Response {
        chunks: vec![Chunk::Bytes(buf.freeze())],
    }
}

/// Encodes `message` as a whole response frame.
pub fn encode<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    message: &M,
) -> anyhow::Result<Response> {
    let mut buf = BytesMut::with_capacity(64 + message.compute_size(version)?);
    buf.put_i32(0);
    put_header(&mut buf, api_key, version, correlation_id);
    message.encode(&mut buf, version)?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(Response {
        chunks: vec![Chunk::Bytes(buf.freeze())],
    })
}
