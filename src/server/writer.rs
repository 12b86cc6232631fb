//! Writing responses: byte chunks with plain writes and file regions with `sendfile`, both driven
//! by the socket's writable readiness so that a slow client never blocks a runtime thread. Partial
//! writes resume where they stopped.

use std::io;
use std::os::fd::AsFd;

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::protocol::response::{Chunk, Response};
use crate::record::FileRegion;

/// Writes every chunk of `response`, in order.
pub async fn write_response(stream: &TcpStream, response: &Response) -> io::Result<()> {
    for chunk in &response.chunks {
        match chunk {
            Chunk::Bytes(bytes) => write_all(stream, bytes).await?,
            Chunk::File(region) => send_file(stream, region).await?,
        }
    }
    Ok(())
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends a file region with `sendfile`: the bytes go from the page cache to the socket without
/// passing through this process.
async fn send_file(stream: &TcpStream, region: &FileRegion) -> io::Result<()> {
    let mut offset = region.position as i64;
    let end = offset + region.len as i64;
    while offset < end {
        stream.writable().await?;
        let remaining = (end - offset) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            nix::sys::sendfile::sendfile64(
                stream.as_fd(),
                region.file.as_fd(),
                Some(&mut offset),
                remaining,
            )
            .map_err(io::Error::from)
        });
        match sent {
            // The file ended early: it was truncated under the fetch. The frame cannot be completed.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment shrank during sendfile",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
