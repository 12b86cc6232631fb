//! The single table of API keys and version ranges this broker implements. Dispatch consults it
//! before decoding, and the ApiVersions response is built from it, so the broker never advertises
//! what it cannot serve.

use kafka_protocol::messages::ApiKey;

/// An API and the versions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> Supported {
    Supported { key, min, max }
}

pub static SUPPORTED: &[Supported] = &[
    api(ApiKey::Produce, 3, 11),
    api(ApiKey::Fetch, 4, 16),
    api(ApiKey::ListOffsets, 1, 8),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::OffsetCommit, 2, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 4),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeQuorum, 0, 2),
    api(ApiKey::UnregisterBroker, 0, 0),
];

/// The version range served for `api_key`, if any.
pub fn range(api_key: i16) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|s| s.key as i16 == api_key)
        .map(|s| (s.min, s.max))
}

/// Whether `api_key` is served at `version`.
pub fn is_supported(api_key: i16, version: i16) -> bool {
    range(api_key).is_some_and(|(min, max)| (min..=max).contains(&version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Message;

    #[test]
    fn every_advertised_version_can_be_decoded_and_guarded() {
        for s in SUPPORTED {
            let valid = s.key.valid_versions();
            assert!(
                valid.min <= s.min && s.max <= valid.max,
                "{:?} {}..{} beyond the codec",
                s.key,
                s.min,
                s.max
            );
            assert!(
                super::super::shapes::request_shape(s.key as i16).is_some(),
                "{:?} has no guard shape",
                s.key
            );
        }
        assert!(is_supported(18, 3));
        assert!(!is_supported(18, 5));
        assert!(!is_supported(1000, 0));
        let _ = kafka_protocol::messages::ApiVersionsRequest::VERSIONS;
    }
}
