//! Request headers: splitting a frame into its header and body.
//!
//! A request header is `api_key: i16, api_version: i16, correlation_id: i32, client_id: nullable
//! string` (header v1), plus a tagged-field section in header v2, which flexible API versions use.
//! Which header version applies depends on the API key and version, so an unknown API key cannot
//! be parsed further: Kafka closes such connections, and so does the server.

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::guard;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
}

/// API keys kafe's nodes use between themselves (the metadata quorum, broker registration and
/// forwarding over the controller listener): far above Kafka's, header v1, served only on
/// controller listeners.
pub const INTERNAL_API_KEYS: std::ops::RangeInclusive<i16> = 32_000..=32_099;

/// Whether `api_key` is one of kafe's internal requests.
pub fn is_internal(api_key: i16) -> bool {
    INTERNAL_API_KEYS.contains(&api_key)
}

/// Why a frame could not be read as a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("frame of {0} bytes is too short for a request header")]
    Truncated(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("malformed request header: {0}")]
    Malformed(String),
}

/// Splits `frame` (one request without its size prefix) into header and body; the body shares the
/// frame's memory.
pub fn parse(frame: &Bytes) -> Result<(RequestHeader, Bytes), HeaderError> {
    if frame.len() < 10 {
        return Err(HeaderError::Truncated(frame.len()));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let api_version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let header_version = if is_internal(api_key) {
        1
    } else {
        ApiKey::try_from(api_key)
            .map_err(|_| HeaderError::UnknownApiKey(api_key))?
            .request_header_version(api_version)
    };
    let client_id_len = i16::from_be_bytes([frame[8], frame[9]]);
    let mut pos = 10;
    let client_id = match client_id_len {
        -1 => None,
        n if n < 0 => return Err(HeaderError::Malformed(format!("client id length {n}"))),
        n => {
            let end = pos + n as usize;
            let bytes = frame
                .get(pos..end)
                .ok_or_else(|| HeaderError::Malformed("client id runs past the frame".into()))?;
            pos = end;
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
    };
    if header_version >= 2 {
        pos += guard::check_header_tags(&frame[pos..])
            .map_err(|e| HeaderError::Malformed(e.to_string()))?;
    }
    Ok((
        RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id,
        },
        frame.slice(pos..),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(key: i16, version: i16, client: Option<&str>, tags: bool, body: &[u8]) -> Bytes {
        let mut f = Vec::new();
        f.extend_from_slice(&key.to_be_bytes());
        f.extend_from_slice(&version.to_be_bytes());
        f.extend_from_slice(&42i32.to_be_bytes());
        match client {
            None => f.extend_from_slice(&(-1i16).to_be_bytes()),
            Some(c) => {
                f.extend_from_slice(&(c.len() as i16).to_be_bytes());
                f.extend_from_slice(c.as_bytes());
            }
        }
        if tags {
            f.push(0);
        }
        f.extend_from_slice(body);
        Bytes::from(f)
    }

    #[test]
    fn parses_v1_and_v2_headers() {
        let (h, body) = parse(&frame(3, 1, Some("kcat"), false, b"xyz")).unwrap();
        assert_eq!((h.api_key, h.api_version, h.correlation_id), (3, 1, 42));
        assert_eq!(h.client_id.as_deref(), Some("kcat"));
        assert_eq!(&body[..], b"xyz");
        // Metadata v9 is flexible: header v2 with tagged fields.
        let (h, body) = parse(&frame(3, 9, None, true, b"b")).unwrap();
        assert_eq!(h.client_id, None);
        assert_eq!(&body[..], b"b");
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(matches!(
            parse(&Bytes::from_static(b"short")),
            Err(HeaderError::Truncated(5))
        ));
        assert!(matches!(
            parse(&frame(999, 0, None, false, b"")),
            Err(HeaderError::UnknownApiKey(999))
        ));
        let mut bad = frame(3, 1, Some("ab"), false, b"").to_vec();
        bad[9] = 50;
        assert!(matches!(
            parse(&Bytes::from(bad)),
            Err(HeaderError::Malformed(_))
        ));
    }
}
