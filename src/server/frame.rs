//! Reading size-prefixed request frames off a socket without trusting the size.
//!
//! A frame is a big-endian i32 size followed by that many bytes. A size that is negative or above
//! `socket.request.max.bytes` ends the connection before anything is allocated for it; otherwise the
//! buffer grows only as bytes actually arrive (in steps of at most [`GROWTH_STEP`]), so a client
//! that announces 100 MiB and sends nothing costs nothing. Reading is cancel-safe: bytes read
//! before a cancelled wait stay in the buffer.

use bytes::{Buf, Bytes, BytesMut};

/// The most the read buffer grows by at a time.
pub const GROWTH_STEP: usize = 1 << 20;
const INITIAL_CAPACITY: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("request size {size} is negative or exceeds socket.request.max.bytes ({max})")]
    BadSize { size: i32, max: usize },
}

pub struct FrameReader {
    buf: BytesMut,
    max_size: usize,
}

impl FrameReader {
    pub fn new(max_size: usize) -> FrameReader {
        FrameReader {
            buf: BytesMut::with_capacity(INITIAL_CAPACITY),
            max_size,
        }
    }

    /// The next whole frame already buffered, if any. When the next frame is incomplete, makes
    /// room for more of it (bounded by what is missing and by [`GROWTH_STEP`]).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < 4 {
            self.buf.reserve(4 - self.buf.len());
            return Ok(None);
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 || size as usize > self.max_size {
            return Err(FrameError::BadSize {
                size,
                max: self.max_size,
            });
        }
        let total = 4 + size as usize;
        if self.buf.len() < total {
            let missing = total - self.buf.len();
            let spare = self.buf.capacity() - self.buf.len();
            if spare < missing.min(GROWTH_STEP) {
                self.buf.reserve(missing.min(GROWTH_STEP));
            }
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(size as usize).freeze()))
    }

    /// Where the socket's bytes go.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Room reserved for incoming bytes.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_whole_and_in_order() {
        let mut r = FrameReader::new(100);
        r.buffer().extend_from_slice(&[0, 0, 0, 3, b'a', b'b']);
        assert_eq!(r.next_frame(), Ok(None));
        r.buffer()
            .extend_from_slice(&[b'c', 0, 0, 0, 0, 0, 0, 0, 1, b'z']);
        assert_eq!(r.next_frame().unwrap().unwrap(), Bytes::from_static(b"abc"));
        assert_eq!(r.next_frame().unwrap().unwrap(), Bytes::new());
        assert_eq!(r.next_frame().unwrap().unwrap(), Bytes::from_static(b"z"));
        assert_eq!(r.next_frame(), Ok(None));
    }

    #[test]
    fn bad_sizes_are_refused_before_allocating() {
        let mut r = FrameReader::new(100);
        r.buffer().extend_from_slice(&(-5i32).to_be_bytes());
        assert!(r.next_frame().is_err());
        let mut r = FrameReader::new(1 << 30);
        r.buffer().extend_from_slice(&(1i32 << 29).to_be_bytes());
        assert_eq!(r.next_frame(), Ok(None));
        assert!(
            r.capacity() <= INITIAL_CAPACITY + GROWTH_STEP + 64,
            "grew to {}",
            r.capacity()
        );
        let mut r = FrameReader::new(100);
        r.buffer().extend_from_slice(&101i32.to_be_bytes());
        assert_eq!(
            r.next_frame(),
            Err(FrameError::BadSize {
                size: 101,
                max: 100
            })
        );
    }
}
