//! Decoding an untrusted request body: the guard walks it against its wire shape first, and only a
//! body that passes goes to the generic `kafka-protocol` decoder. This is the one entry point for
//! request decoding, used by the API dispatcher and by the fuzz targets.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind};

use super::{guard, shapes};

/// Decodes `body` as a request of `api_key` at `version`. Every length and count is checked
/// against the bytes present before anything is allocated for it.
pub fn decode(api_key: i16, version: i16, body: &Bytes) -> Result<RequestKind, String> {
    let key = ApiKey::try_from(api_key).map_err(|_| format!("unknown API key {api_key}"))?;
    let shape = shapes::request_shape(api_key)
        .ok_or_else(|| format!("{key:?} requests are not decoded here"))?;
    let valid = key.valid_versions();
    if !(valid.min..=valid.max).contains(&version) {
        return Err(format!("{key:?} v{version} cannot be decoded"));
    }
    guard::check_body(shape, version, body).map_err(|e| format!("{key:?} v{version}: {e}"))?;
    let mut buf = body.clone();
    RequestKind::decode(key, &mut buf, version).map_err(|e| format!("{key:?} v{version}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::samples;

    #[test]
    fn samples_decode_and_forgeries_do_not() {
        let body = samples::encoded(3, 9).unwrap();
        assert!(matches!(decode(3, 9, &body), Ok(RequestKind::Metadata(_))));
        assert!(decode(3, 99, &body).is_err());
        assert!(decode(4, 0, &body).is_err());
        let mut forged = body.to_vec();
        forged[0] = 0xff; // the topic array's compact count becomes enormous
        forged.splice(1..1, [0xff, 0xff, 0xff, 0x07]);
        assert!(decode(3, 9, &Bytes::from(forged)).is_err());
    }
}
