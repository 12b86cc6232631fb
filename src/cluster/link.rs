//! A connection to another node's controller listener for kafe's internal requests (see
//! [`crate::protocol::header::INTERNAL_API_KEYS`]): Kafka's framing (size, request header v1,
//! body) and response framing (size, correlation id, body), one request at a time. The
//! connection is made when first needed and dropped on any error, so the next request starts
//! afresh; every exchange runs within a deadline.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response accepted (snapshots travel in chunks well below it).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
const CLIENT_ID: &str = "kafe-internal";

/// One request frame: size, header v1 (`api_key`, version 0, `correlation_id`, client id), body.
pub fn request_frame(api_key: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + 10 + CLIENT_ID.len() + body.len());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    frame.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    frame.extend_from_slice(CLIENT_ID.as_bytes());
    frame.extend_from_slice(body);
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum LinkError {
    /// No connection could be made: the node is down or unreachable.
    Unreachable(io::Error),
    /// The connection broke, timed out or carried garbage.
    Broken(io::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Unreachable(e) => write!(f, "unreachable: {e}"),
            LinkError::Broken(e) => write!(f, "connection failed: {e}"),
        }
    }
}

pub struct Link {
    address: String,
    stream: Option<TcpStream>,
    next_correlation_id: i32,
}

impl Link {
    pub fn new(host: &str, port: u16) -> Link {
        Link {
            address: format!("{host}:{port}"),
            stream: None,
            next_correlation_id: 1,
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    async fn connect(&mut self, within: Duration) -> Result<&mut TcpStream, LinkError> {
        if self.stream.is_none() {
            let stream = tokio::time::timeout(within, TcpStream::connect(&self.address))
                .await
                .map_err(|_| {
                    LinkError::Unreachable(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connecting to {} timed out", self.address),
                    ))
                })?
                .map_err(LinkError::Unreachable)?;
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
        }
        Ok(self.stream.as_mut().expect("connected above"))
    }

    /// Sends `body` as `api_key` and returns the response body, within `within`.
    pub async fn exchange(
        &mut self,
        api_key: i16,
        body: &[u8],
        within: Duration,
    ) -> Result<Vec<u8>, LinkError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let frame = request_frame(api_key, correlation_id, body);
        let exchange = async {
            let stream = self.connect(within).await?;
            stream.write_all(&frame).await.map_err(LinkError::Broken)?;
            let mut size = [0u8; 4];
            stream
                .read_exact(&mut size)
                .await
                .map_err(LinkError::Broken)?;
            let size = i32::from_be_bytes(size);
            let size = usize::try_from(size)
                .ok()
                .filter(|s| (4..=MAX_RESPONSE_BYTES).contains(s))
                .ok_or_else(|| {
                    LinkError::Broken(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("response size {size}"),
                    ))
                })?;
            let mut response = vec![0u8; size];
            stream
                .read_exact(&mut response)
                .await
                .map_err(LinkError::Broken)?;
            if response[..4] != correlation_id.to_be_bytes() {
                return Err(LinkError::Broken(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response to another request",
                )));
            }
            response.drain(..4);
            Ok(response)
        };
        let result = match tokio::time::timeout(within, exchange).await {
            Ok(result) => result,
            Err(_) => Err(LinkError::Broken(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer from {} within {within:?}", self.address),
            ))),
        };
        if result.is_err() {
            // The stream may hold half a response: start over.
            self.stream = None;
        }
        result
    }
}
