//! Writing responses: byte chunks with plain writes and file regions with the transport's
//! [`Transport::send_region`] (`sendfile` on a plain socket). Partial writes resume where they
//! stopped.

use std::io;

use tokio::io::AsyncWriteExt;

use super::transport::Transport;
use crate::protocol::response::{Chunk, Response};

/// Writes every chunk of `response`, in order.
pub async fn write_response<S: Transport>(stream: &mut S, response: &Response) -> io::Result<()> {
    for chunk in &response.chunks {
        match chunk {
            Chunk::Bytes(bytes) => stream.write_all(bytes).await?,
            Chunk::File(region) => stream.send_region(region).await?,
        }
    }
    stream.flush().await
}
