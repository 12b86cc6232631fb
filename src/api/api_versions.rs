//! ApiVersions: the versions this broker serves, straight from the version table.
//!
//! A request at a version the broker does not know gets Kafka's fallback: a v0 response with
//! UNSUPPORTED_VERSION that still lists the supported versions, so the client can retry with one.
//! Feature fields (v3+) are tagged and left at their defaults, so none are sent: librdkafka 2.0.2
//! misreads a response that carries them empty.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use super::{Outcome, respond};
use crate::protocol::header::RequestHeader;
use crate::protocol::versions::SUPPORTED;

fn supported_apis() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|s| {
            ApiVersion::default()
                .with_api_key(s.key as i16)
                .with_min_version(s.min)
                .with_max_version(s.max)
        })
        .collect()
}

/// Kafka's client software name/version pattern.
fn valid_software_field(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
}

pub fn handle(header: &RequestHeader, request: &ApiVersionsRequest) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default().with_api_keys(supported_apis());
    if header.api_version >= 3
        && !(valid_software_field(&request.client_software_name)
            && valid_software_field(&request.client_software_version))
    {
        response.error_code = E::InvalidRequest.code();
    }
    response
}

/// The fallback for an ApiVersions version this broker does not serve.
pub fn unsupported_version(header: &RequestHeader) -> Outcome {
    let response = ApiVersionsResponse::default()
        .with_error_code(E::UnsupportedVersion.code())
        .with_api_keys(supported_apis());
    let v0 = RequestHeader {
        api_version: 0,
        ..header.clone()
    };
    respond(ApiKey::ApiVersions, &v0, &response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_fields_follow_kafkas_pattern() {
        assert!(valid_software_field("librdkafka"));
        assert!(valid_software_field("2.0.2"));
        assert!(valid_software_field("apache-kafka-java"));
        assert!(!valid_software_field(""));
        assert!(!valid_software_field("-x"));
        assert!(!valid_software_field("a b"));
    }
}
