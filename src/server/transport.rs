//! What a connection runs over: any byte stream ([`Transport`]), plain TCP today, TLS next. The one
//! thing a transport adds to reading and writing is how it sends a file region: a plain socket hands
//! it to the kernel with `sendfile` (the bytes never pass through the broker), any other stream
//! (TLS in user space) reads the region and writes it.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::record::FileRegion;

/// How much of a region the read-and-write fallback reads at a time.
const COPY_CHUNK: u64 = 256 * 1024;

/// A connection's byte stream.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Writes the bytes of `region`. By default they are read (off the async runtime) and written.
    fn send_region<'a>(
        &'a mut self,
        region: &'a FileRegion,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        copy_region(self, region)
    }
}

/// The read-and-write way of sending a region, for streams the kernel cannot `sendfile` into.
pub async fn copy_region<S: AsyncWrite + Unpin + Send + ?Sized>(
    stream: &mut S,
    region: &FileRegion,
) -> io::Result<()> {
    let mut position = region.position;
    let end = region.position + region.len;
    while position < end {
        let len = (end - position).min(COPY_CHUNK) as usize;
        let file = std::sync::Arc::clone(&region.file);
        let chunk = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, position).map(|()| buf)
        })
        .await
        .map_err(|e| io::Error::other(format!("region read task failed: {e}")))??;
        stream.write_all(&chunk).await?;
        position += len as u64;
    }
    Ok(())
}

impl Transport for TcpStream {
    /// `sendfile`: the bytes go from the page cache to the socket without passing through this
    /// process, driven by the socket's writable readiness so a slow client never blocks a thread.
    async fn send_region(&mut self, region: &FileRegion) -> io::Result<()> {
        {
            let mut offset = region.position as i64;
            let end = offset + region.len as i64;
            while offset < end {
                self.writable().await?;
                let remaining = (end - offset) as usize;
                let sent = self.try_io(Interest::WRITABLE, || {
                    nix::sys::sendfile::sendfile64(
                        self.as_fd(),
                        region.file.as_fd(),
                        Some(&mut offset),
                        remaining,
                    )
                    .map_err(io::Error::from)
                });
                match sent {
                    // The file ended early: it was truncated under the fetch. The frame cannot be
                    // completed.
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    /// A stream that is not a socket: the fallback path.
    impl Transport for tokio::io::DuplexStream {}

    #[tokio::test]
    async fn regions_go_out_whole_over_sendfile_and_over_the_fallback() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&data).unwrap();
        let region = FileRegion {
            file: Arc::new(file),
            position: 1234,
            len: 600_000,
        };
        let expected = &data[1234..601_234];

        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let sender = {
            let region = region.clone();
            tokio::spawn(async move { a.send_region(&region).await })
        };
        let mut got = vec![0u8; expected.len()];
        b.read_exact(&mut got).await.unwrap();
        sender.await.unwrap().unwrap();
        assert_eq!(got, expected);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.send_region(&region).await
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut got = vec![0u8; expected.len()];
        client.read_exact(&mut got).await.unwrap();
        sender.await.unwrap().unwrap();
        assert_eq!(got, expected);
    }
}
