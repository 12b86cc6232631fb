//! ApiVersions: every version, the unsupported-version fallback, and the v3 encoding that old
//! librdkafka depends on.

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::harness::TestBroker;

const EXPECTED: &[(i16, i16, i16)] = &[
    (0, 3, 11),
    (1, 4, 16),
    (2, 1, 8),
    (3, 0, 12),
    (8, 2, 9),
    (9, 1, 9),
    (10, 0, 4),
    (11, 0, 9),
    (12, 0, 4),
    (13, 0, 5),
    (14, 0, 5),
    (15, 0, 5),
    (16, 0, 4),
    (18, 0, 4),
    (19, 2, 7),
    (20, 1, 6),
    (21, 0, 2),
    (22, 0, 4),
    (23, 2, 4),
    (32, 1, 4),
    (37, 0, 3),
    (42, 0, 2),
    (43, 0, 2),
    (47, 0, 0),
    (55, 0, 2),
    (60, 0, 1),
    (64, 0, 0),
];

fn request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("protocol-tests"))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

#[test]
fn every_version_lists_the_supported_apis() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    for version in 0..=4 {
        let response: ApiVersionsResponse = conn.call(ApiKey::ApiVersions, version, &request());
        assert_eq!(response.error_code, 0, "v{version}");
        let mut listed: Vec<(i16, i16, i16)> = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, EXPECTED, "v{version}");
    }
}

#[test]
fn v3_sends_no_tagged_feature_fields() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut body = BytesMut::new();
    request().encode(&mut body, 3).unwrap();
    let id = conn.send(ApiKey::ApiVersions, 3, &body);
    let response = conn.read_response(ApiKey::ApiVersions, 3, id);
    // The body ends with throttle_time_ms (4 bytes) and an empty tagged-field section (one 0 byte):
    // no finalized-feature fields at their defaults, which librdkafka 2.0.2 misreads.
    assert_eq!(response[response.len() - 1], 0);
    let mut copy = response.clone();
    let decoded = ApiVersionsResponse::decode(&mut copy, 3).unwrap();
    assert!(decoded.supported_features.is_empty() && decoded.finalized_features.is_empty());
    assert_eq!(decoded.finalized_features_epoch, -1);
}

#[test]
fn an_unknown_version_gets_a_v0_error_with_the_supported_list() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    // ApiVersions v9 with an arbitrary body: the broker cannot parse it and must not try.
    let id = conn.send(ApiKey::ApiVersions, 9, b"\x00\x01\x02");
    let mut response = conn.read_response(ApiKey::ApiVersions, 0, id);
    let decoded = ApiVersionsResponse::decode(&mut response, 0).unwrap();
    assert_eq!(decoded.error_code, 35, "UNSUPPORTED_VERSION");
    assert_eq!(decoded.api_keys.len(), EXPECTED.len());
    assert_eq!(response.remaining(), 0);
    // The connection stays usable.
    let again: ApiVersionsResponse = conn.call(ApiKey::ApiVersions, 2, &request());
    assert_eq!(again.error_code, 0);
}

#[test]
fn invalid_client_software_names_are_refused() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let bad = request().with_client_software_name(StrBytes::from_static_str("bad name!"));
    let response: ApiVersionsResponse = conn.call(ApiKey::ApiVersions, 3, &bad);
    assert_eq!(response.error_code, 42, "INVALID_REQUEST");
}

#[test]
fn other_apis_at_unsupported_versions_close_the_connection() {
    let broker = TestBroker::start(&[]);
    for (key, version) in [
        (ApiKey::Produce, 2),
        (ApiKey::Fetch, 17),
        (ApiKey::Metadata, 13),
        (ApiKey::OffsetCommit, 8),
    ] {
        let mut conn = broker.connect();
        conn.send(key, version, &[0; 16]);
        assert!(
            conn.read_frame().is_none(),
            "{key:?} v{version} was answered"
        );
    }
    let mut conn = broker.connect();
    let ok: ApiVersionsResponse = conn.call(ApiKey::ApiVersions, 0, &request());
    assert_eq!(ok.error_code, 0);
}
