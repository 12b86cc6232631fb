//! The records kafe keeps in the internal topic `__consumer_offsets`, encoded byte for byte as
//! Apache Kafka encodes them, so Kafka's tools (the console consumer's offsets formatter,
//! `kafka-dump-log --offsets-decoder`) read kafe's log and kafe reads a log Kafka wrote.
//!
//! Every key and every value starts with a big-endian int16 version; the key's version also tells
//! which kind of record it is:
//!
//! - Offset commit key, version 0 or 1 (kafe writes 1): `group: string, topic: string,
//!   partition: int32`.
//! - Group metadata key, version 2: `group: string`.
//! - Key versions 3 and up are the KIP-848 consumer group and share group records, which kafe
//!   does not write; [`GroupKey::decode`] reports them as [`RecordError::UnknownVersion`].
//!
//! Offset commit value, versions 0 to 4 (kafe writes 3, or 1 when an expire timestamp is set,
//! as Kafka does): `offset: int64, leader_epoch: int32 (v3+), metadata: string,
//! commit_timestamp: int64, expire_timestamp: int64 (v1 only)`.
//!
//! Group metadata value, versions 0 to 4 (kafe writes 3): `protocol_type: string,
//! generation: int32, protocol: nullable string, leader: nullable string,
//! current_state_timestamp: int64 (v2+), members: [member_id: string,
//! group_instance_id: nullable string (v3+), client_id: string, client_host: string,
//! rebalance_timeout: int32 (v1+), session_timeout: int32, subscription: bytes,
//! assignment: bytes]`.
//!
//! Versions 0 to 3 are classic encodings: a string is an int16 length (-1 for null) and UTF-8
//! bytes; bytes and arrays have an int32 length. Version 4 of both values is flexible: strings,
//! bytes and arrays carry an unsigned varint of length + 1 (0 for null), and every struct (the
//! value and each member) ends with a tagged-field section, which kafe skips. A tombstone (a
//! deleted offset or group) is a null value and is not encoded here.
//!
//! Decoding treats the bytes as untrusted: every length and count is checked against the bytes
//! that remain before anything is allocated, nulls are rejected where the schema forbids them,
//! strings must be UTF-8, and no input makes it panic. Bytes after a complete value are ignored,
//! as Kafka ignores them.

use bytes::BufMut;

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
/// The only offset value version with an expire timestamp.
const OFFSET_VALUE_VERSION_WITH_EXPIRE: i16 = 1;
const GROUP_VALUE_VERSION: i16 = 3;
/// The highest version of both value schemas.
const MAX_VALUE_VERSION: i16 = 4;
/// The first flexible version of both value schemas.
const FIRST_FLEXIBLE_VERSION: i16 = 4;
const MAX_STRING_LEN: usize = i16::MAX as usize;

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// A group's committed offset for one partition; its value is an [`OffsetValue`].
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    /// A classic group's generation and members; its value is a [`GroupValue`].
    Group { group: String },
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    /// -1 when unknown (and in versions before 3).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// -1 when absent. Only version 1 stores it, so setting it makes [`OffsetValue::encode`]
    /// write version 1, which drops the leader epoch, exactly as Kafka does.
    pub expire_timestamp: i64,
}

/// One member of a classic group, as stored in a [`GroupValue`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Version 0 does not store it; decoding takes the session timeout instead, as Kafka does.
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's chosen protocol.
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A classic group's state after a rebalance (or when it becomes empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when absent (versions before 2).
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// Why a key or value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("group record ends before its last field")]
    Truncated,
    #[error("unknown group record version {0}")]
    UnknownVersion(i16),
    #[error("invalid group record: {0}")]
    Invalid(String),
}

impl GroupKey {
    /// Encodes the key: version 1 for an offset commit, version 2 for group metadata.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            GroupKey::Offset {
                group,
                topic,
                partition,
            } => {
                out.put_i16(OFFSET_KEY_VERSION);
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.put_i32(*partition);
            }
            GroupKey::Group { group } => {
                out.put_i16(GROUP_KEY_VERSION);
                put_str(&mut out, group);
            }
        }
        out
    }

    /// Decodes a key of version 0, 1 (offset commit) or 2 (group metadata).
    pub fn decode(bytes: &[u8]) -> Result<GroupKey, RecordError> {
        let mut r = Reader::new(bytes);
        match r.i16()? {
            0 | 1 => {
                let group = r.string("group")?;
                let topic = r.string("topic")?;
                let partition = r.i32()?;
                Ok(GroupKey::Offset {
                    group,
                    topic,
                    partition,
                })
            }
            2 => Ok(GroupKey::Group {
                group: r.string("group")?,
            }),
            version => Err(RecordError::UnknownVersion(version)),
        }
    }
}

impl OffsetValue {
    /// Encodes the value as version 3, or as version 1 when an expire timestamp is set.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.expire_timestamp == -1 {
            out.put_i16(OFFSET_VALUE_VERSION);
            out.put_i64(self.offset);
            out.put_i32(self.leader_epoch);
            put_str(&mut out, &self.metadata);
            out.put_i64(self.commit_timestamp);
        } else {
            out.put_i16(OFFSET_VALUE_VERSION_WITH_EXPIRE);
            out.put_i64(self.offset);
            put_str(&mut out, &self.metadata);
            out.put_i64(self.commit_timestamp);
            out.put_i64(self.expire_timestamp);
        }
        out
    }

    /// Decodes a value of any version from 0 to 4.
    pub fn decode(bytes: &[u8]) -> Result<OffsetValue, RecordError> {
        let mut r = Reader::new(bytes);
        let version = r.value_version()?;
        let offset = r.i64()?;
        let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
        let metadata = r.string("metadata")?;
        let commit_timestamp = r.i64()?;
        let expire_timestamp = if version == 1 { r.i64()? } else { -1 };
        r.skip_tagged_fields()?;
        Ok(OffsetValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}

impl GroupValue {
    /// Encodes the value as version 3.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_i16(GROUP_VALUE_VERSION);
        put_str(&mut out, &self.protocol_type);
        out.put_i32(self.generation);
        put_opt_str(&mut out, self.protocol.as_deref());
        put_opt_str(&mut out, self.leader.as_deref());
        out.put_i64(self.current_state_timestamp);
        let count = self.members.len().min(i32::MAX as usize);
        out.put_i32(count as i32);
        for member in self.members.iter().take(count) {
            put_str(&mut out, &member.member_id);
            put_opt_str(&mut out, member.group_instance_id.as_deref());
            put_str(&mut out, &member.client_id);
            put_str(&mut out, &member.client_host);
            out.put_i32(member.rebalance_timeout_ms);
            out.put_i32(member.session_timeout_ms);
            put_bytes(&mut out, &member.subscription);
            put_bytes(&mut out, &member.assignment);
        }
        out
    }

    /// Decodes a value of any version from 0 to 4.
    pub fn decode(bytes: &[u8]) -> Result<GroupValue, RecordError> {
        let mut r = Reader::new(bytes);
        let version = r.value_version()?;
        let protocol_type = r.string("protocol_type")?;
        let generation = r.i32()?;
        let protocol = r.opt_string()?;
        let leader = r.opt_string()?;
        let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
        let count = r.count("members")?;
        // Grown as members decode: a count is only known to be no larger than the input.
        let mut members = Vec::new();
        for _ in 0..count {
            members.push(MemberValue::read(&mut r, version)?);
        }
        r.skip_tagged_fields()?;
        Ok(GroupValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

impl MemberValue {
    fn read(r: &mut Reader<'_>, version: i16) -> Result<MemberValue, RecordError> {
        let member_id = r.string("member_id")?;
        let group_instance_id = if version >= 3 { r.opt_string()? } else { None };
        let client_id = r.string("client_id")?;
        let client_host = r.string("client_host")?;
        let rebalance_timeout_ms = if version >= 1 { Some(r.i32()?) } else { None };
        let session_timeout_ms = r.i32()?;
        let subscription = r.bytes("subscription")?;
        let assignment = r.bytes("assignment")?;
        r.skip_tagged_fields()?;
        Ok(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: rebalance_timeout_ms.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription,
            assignment,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_opt_str(out, Some(s));
}

/// Writes a classic (int16-length) string. Kafka cannot represent a longer string and its request
/// decoding never yields one; should one reach here it is cut at a character boundary, keeping the
/// record well-formed.
fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    let Some(s) = s else {
        out.put_i16(-1);
        return;
    };
    let mut end = s.len().min(MAX_STRING_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let s = s.get(..end).unwrap_or_default();
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// Writes classic (int32-length) bytes, cut at `i32::MAX` (which no request can carry).
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(i32::MAX as usize)];
    out.put_i32(bytes.len() as i32);
    out.put_slice(bytes);
}

fn invalid(message: impl Into<String>) -> RecordError {
    RecordError::Invalid(message.into())
}

fn null_field(field: &str) -> RecordError {
    invalid(format!("non-nullable field {field} is null"))
}

/// A length that cannot fit in memory reads as one longer than any input.
fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Bounded reads from an untrusted record. `flexible` selects the compact encodings of version 4.
struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            flexible: false,
        }
    }

    /// Reads a value's version and switches to the encodings it uses.
    fn value_version(&mut self) -> Result<i16, RecordError> {
        let version = self.i16()?;
        if !(0..=MAX_VALUE_VERSION).contains(&version) {
            return Err(RecordError::UnknownVersion(version));
        }
        self.flexible = version >= FIRST_FLEXIBLE_VERSION;
        Ok(version)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.buf.len() {
            return Err(RecordError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(RecordError::Truncated)?;
        self.buf = rest;
        Ok(*head)
    }

    fn i16(&mut self) -> Result<i16, RecordError> {
        self.array::<2>().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        self.array::<4>().map(i32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64, RecordError> {
        self.array::<8>().map(i64::from_be_bytes)
    }

    /// An unsigned varint of at most 32 bits (five bytes).
    fn uvarint(&mut self) -> Result<u32, RecordError> {
        let mut value = 0u32;
        for shift in [0, 7, 14, 21, 28] {
            let [byte] = self.array::<1>()?;
            if shift == 28 && byte > 0x0f {
                break;
            }
            value |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(invalid("varint longer than 32 bits"))
    }

    /// A compact length (length + 1, 0 for null).
    fn compact_len(&mut self) -> Result<Option<usize>, RecordError> {
        Ok(self.uvarint()?.checked_sub(1).map(to_usize))
    }

    /// A string's length: `None` for null.
    fn str_len(&mut self) -> Result<Option<usize>, RecordError> {
        if self.flexible {
            self.compact_len()
        } else {
            Ok(usize::try_from(self.i16()?).ok())
        }
    }

    /// A length of bytes or an array's count: `None` for null.
    fn long_len(&mut self) -> Result<Option<usize>, RecordError> {
        if self.flexible {
            self.compact_len()
        } else {
            Ok(usize::try_from(self.i32()?).ok())
        }
    }

    fn opt_string(&mut self) -> Result<Option<String>, RecordError> {
        let Some(len) = self.str_len()? else {
            return Ok(None);
        };
        if len > MAX_STRING_LEN {
            return Err(invalid(format!(
                "string length {len} is over {MAX_STRING_LEN}"
            )));
        }
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(invalid("string is not UTF-8")),
        }
    }

    fn string(&mut self, field: &str) -> Result<String, RecordError> {
        self.opt_string()?.ok_or_else(|| null_field(field))
    }

    fn bytes(&mut self, field: &str) -> Result<Vec<u8>, RecordError> {
        let len = self.long_len()?.ok_or_else(|| null_field(field))?;
        Ok(self.take(len)?.to_vec())
    }

    /// An array's element count, which cannot exceed the bytes that remain.
    fn count(&mut self, field: &str) -> Result<usize, RecordError> {
        let count = self.long_len()?.ok_or_else(|| null_field(field))?;
        if count > self.buf.len() {
            return Err(RecordError::Truncated);
        }
        Ok(count)
    }

    /// Skips a flexible struct's tagged fields; none of these schemas defines any yet.
    fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        if !self.flexible {
            return Ok(());
        }
        for _ in 0..self.uvarint()? {
            let _tag = self.uvarint()?;
            let size = to_usize(self.uvarint()?);
            self.take(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn str16(out: &mut Vec<u8>, s: &str) {
        out.put_i16(s.len() as i16);
        out.put_slice(s.as_bytes());
    }

    fn bytes32(out: &mut Vec<u8>, b: &[u8]) {
        out.put_i32(b.len() as i32);
        out.put_slice(b);
    }

    /// A compact string or bytes shorter than 127 bytes.
    fn compact(out: &mut Vec<u8>, b: &[u8]) {
        out.put_u8(b.len() as u8 + 1);
        out.put_slice(b);
    }

    fn offset_value() -> OffsetValue {
        OffsetValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp: 1_700_000_000_000,
            expire_timestamp: -1,
        }
    }

    fn member(id: &str, instance: Option<&str>) -> MemberValue {
        MemberValue {
            member_id: id.into(),
            group_instance_id: instance.map(str::to_string),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout_ms: 300_000,
            session_timeout_ms: 45_000,
            subscription: vec![0, 1, 2, 3],
            assignment: vec![9; 20],
        }
    }

    fn group_value(members: Vec<MemberValue>) -> GroupValue {
        GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: members.first().map(|m| m.member_id.clone()),
            current_state_timestamp: 1_700_000_000_123,
            members,
        }
    }

    fn keys() -> Vec<GroupKey> {
        vec![
            GroupKey::Group { group: "g".into() },
            GroupKey::Group {
                group: String::new(),
            },
            GroupKey::Offset {
                group: "group-1".into(),
                topic: "orders".into(),
                partition: 3,
            },
            GroupKey::Offset {
                group: "ü".into(),
                topic: "t".into(),
                partition: -1,
            },
        ]
    }

    fn offset_values() -> Vec<OffsetValue> {
        let expiring = OffsetValue {
            leader_epoch: -1,
            expire_timestamp: 99,
            ..offset_value()
        };
        let empty = OffsetValue {
            metadata: String::new(),
            leader_epoch: -1,
            ..offset_value()
        };
        vec![offset_value(), expiring, empty]
    }

    fn group_values() -> Vec<GroupValue> {
        let empty = GroupValue {
            protocol_type: "consumer".into(),
            generation: 0,
            protocol: None,
            leader: None,
            current_state_timestamp: -1,
            members: Vec::new(),
        };
        vec![
            empty,
            group_value(vec![member("m1", None)]),
            group_value(vec![
                member("m1", Some("i1")),
                member("m2", None),
                member("m3", Some("")),
            ]),
        ]
    }

    #[test]
    fn keys_round_trip() {
        for key in keys() {
            assert_eq!(GroupKey::decode(&key.encode()), Ok(key));
        }
    }

    #[test]
    fn key_bytes_are_pinned() {
        assert_eq!(
            GroupKey::Group { group: "g".into() }.encode(),
            [0, 2, 0, 1, b'g']
        );
        let key = GroupKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 5,
        };
        let bytes = [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 5];
        assert_eq!(key.encode(), bytes);
        // Version 0 has the same layout.
        let v0 = [0, 0, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 5];
        assert_eq!(GroupKey::decode(&v0), Ok(key));
    }

    #[test]
    fn unknown_key_versions_are_reported() {
        assert_eq!(
            GroupKey::decode(&[0, 3, 0, 1, b'g']),
            Err(RecordError::UnknownVersion(3))
        );
        assert_eq!(
            GroupKey::decode(&[0xff, 0xff]),
            Err(RecordError::UnknownVersion(-1))
        );
        assert_eq!(
            GroupKey::decode(&[0, 2, 0xff, 0xff]),
            Err(null_field("group"))
        );
    }

    #[test]
    fn offset_values_round_trip() {
        for value in offset_values() {
            assert_eq!(OffsetValue::decode(&value.encode()), Ok(value));
        }
    }

    #[test]
    fn offset_value_bytes_are_pinned() {
        let value = OffsetValue {
            commit_timestamp: 1000,
            ..offset_value()
        };
        let mut v3 = vec![0, 3];
        v3.put_i64(42);
        v3.put_i32(7);
        str16(&mut v3, "meta");
        v3.put_i64(1000);
        assert_eq!(value.encode(), v3);

        let expiring = OffsetValue {
            leader_epoch: -1,
            expire_timestamp: 2000,
            ..value
        };
        let mut v1 = vec![0, 1];
        v1.put_i64(42);
        str16(&mut v1, "meta");
        v1.put_i64(1000);
        v1.put_i64(2000);
        assert_eq!(expiring.encode(), v1);
        assert_eq!(OffsetValue::decode(&v1), Ok(expiring));
    }

    #[test]
    fn decodes_older_and_flexible_offset_values() {
        let expected = OffsetValue {
            leader_epoch: -1,
            commit_timestamp: 1000,
            ..offset_value()
        };
        for version in [0, 2] {
            let mut bytes = Vec::new();
            bytes.put_i16(version);
            bytes.put_i64(42);
            str16(&mut bytes, "meta");
            bytes.put_i64(1000);
            assert_eq!(
                OffsetValue::decode(&bytes),
                Ok(expected.clone()),
                "version {version}"
            );
        }

        let mut v4 = vec![0, 4];
        v4.put_i64(42);
        v4.put_i32(7);
        compact(&mut v4, b"meta");
        v4.put_i64(1000);
        v4.put_slice(&[2, 0, 2, 0xaa, 0xbb, 9, 0]); // an unknown tag 0 (2 bytes), tag 9 (empty)
        let value = OffsetValue::decode(&v4);
        assert_eq!(
            value,
            Ok(OffsetValue {
                leader_epoch: 7,
                ..expected
            })
        );

        // A tagged field longer than the record.
        let cut = v4.len() - 7;
        let mut bad = v4[..cut].to_vec();
        bad.put_slice(&[1, 0, 10, 0xaa]);
        assert_eq!(OffsetValue::decode(&bad), Err(RecordError::Truncated));
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut bytes = offset_value().encode();
        bytes.put_slice(&[1, 2, 3]);
        assert_eq!(OffsetValue::decode(&bytes), Ok(offset_value()));
        let value = group_value(vec![member("m", None)]);
        let mut bytes = value.encode();
        bytes.put_u8(0);
        assert_eq!(GroupValue::decode(&bytes), Ok(value));
        assert!(GroupKey::decode(&[0, 2, 0, 1, b'g', 7]).is_ok());
    }

    #[test]
    fn group_values_round_trip() {
        for value in group_values() {
            assert_eq!(GroupValue::decode(&value.encode()), Ok(value));
        }
    }

    #[test]
    fn group_value_bytes_are_pinned() {
        let value = group_value(vec![member("m1", Some("i1"))]);
        let mut v3 = vec![0, 3];
        str16(&mut v3, "consumer");
        v3.put_i32(5);
        str16(&mut v3, "range");
        str16(&mut v3, "m1");
        v3.put_i64(1_700_000_000_123);
        v3.put_i32(1);
        str16(&mut v3, "m1");
        str16(&mut v3, "i1");
        str16(&mut v3, "client");
        str16(&mut v3, "/127.0.0.1");
        v3.put_i32(300_000);
        v3.put_i32(45_000);
        bytes32(&mut v3, &[0, 1, 2, 3]);
        bytes32(&mut v3, &[9; 20]);
        assert_eq!(value.encode(), v3);

        let empty = GroupValue {
            protocol_type: "c".into(),
            ..GroupValue::default()
        };
        let mut bytes = vec![0, 3, 0, 1, b'c', 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        bytes.put_slice(&[0; 12]); // current state timestamp 0, no members
        assert_eq!(empty.encode(), bytes);
    }

    #[test]
    fn decodes_group_value_v0() {
        let mut v0 = vec![0, 0];
        str16(&mut v0, "consumer");
        v0.put_i32(3);
        str16(&mut v0, "range");
        v0.put_i16(-1); // no leader
        v0.put_i32(1);
        str16(&mut v0, "m1");
        str16(&mut v0, "c");
        str16(&mut v0, "/h");
        v0.put_i32(10_000);
        bytes32(&mut v0, &[1, 2]);
        bytes32(&mut v0, &[]);
        let expected = GroupValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: None,
            current_state_timestamp: -1,
            members: vec![MemberValue {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/h".into(),
                rebalance_timeout_ms: 10_000,
                session_timeout_ms: 10_000,
                subscription: vec![1, 2],
                assignment: Vec::new(),
            }],
        };
        assert_eq!(GroupValue::decode(&v0), Ok(expected));
    }

    #[test]
    fn decodes_group_value_v4() {
        let mut v4 = vec![0, 4];
        compact(&mut v4, b"consumer");
        v4.put_i32(5);
        v4.put_u8(0); // null protocol
        compact(&mut v4, b"m1");
        v4.put_i64(77);
        v4.put_u8(2); // one member
        compact(&mut v4, b"m1");
        v4.put_u8(0); // no instance id
        compact(&mut v4, b"client");
        compact(&mut v4, b"/h");
        v4.put_i32(300_000);
        v4.put_i32(45_000);
        compact(&mut v4, &[1]);
        compact(&mut v4, &[2, 3]);
        v4.put_slice(&[1, 0x80, 0x01, 1, 0xee]); // member: unknown tag 128, one byte
        v4.put_u8(0); // value: no tagged fields
        let expected = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: None,
            leader: Some("m1".into()),
            current_state_timestamp: 77,
            members: vec![MemberValue {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "client".into(),
                client_host: "/h".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: vec![1],
                assignment: vec![2, 3],
            }],
        };
        assert_eq!(GroupValue::decode(&v4), Ok(expected));
        for len in 0..v4.len() {
            assert!(
                GroupValue::decode(&v4[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for key in keys() {
            let bytes = key.encode();
            for len in 0..bytes.len() {
                assert!(
                    GroupKey::decode(&bytes[..len]).is_err(),
                    "{key:?} cut at {len}"
                );
            }
        }
        for value in offset_values() {
            let bytes = value.encode();
            for len in 0..bytes.len() {
                assert!(
                    OffsetValue::decode(&bytes[..len]).is_err(),
                    "{value:?} cut at {len}"
                );
            }
        }
        for value in group_values() {
            let bytes = value.encode();
            for len in 0..bytes.len() {
                assert!(
                    GroupValue::decode(&bytes[..len]).is_err(),
                    "{value:?} cut at {len}"
                );
            }
        }
    }

    #[test]
    fn huge_counts_and_lengths_are_errors() {
        let mut bytes = vec![0, 3];
        str16(&mut bytes, "consumer");
        bytes.put_i32(1);
        bytes.put_slice(&[0xff, 0xff, 0xff, 0xff]);
        bytes.put_i64(0);
        let header = bytes.clone();
        bytes.put_i32(0x7fff_ffff);
        assert_eq!(GroupValue::decode(&bytes), Err(RecordError::Truncated));

        let mut null_members = header.clone();
        null_members.put_i32(-1);
        assert_eq!(
            GroupValue::decode(&null_members),
            Err(null_field("members"))
        );

        let mut huge_bytes = header;
        huge_bytes.put_i32(1);
        let mut m = Vec::new();
        for field in ["m", "i", "c", "h"] {
            str16(&mut m, field);
        }
        m.put_i32(1);
        m.put_i32(1);
        huge_bytes.put_slice(&m);
        huge_bytes.put_i32(i32::MAX);
        huge_bytes.put_slice(&[0; 16]);
        assert_eq!(GroupValue::decode(&huge_bytes), Err(RecordError::Truncated));

        // Flexible: a count of u32::MAX - 1 members, and a varint that never ends.
        let mut v4 = vec![0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        v4.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(GroupValue::decode(&v4), Err(RecordError::Truncated));
        let endless = [0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            GroupValue::decode(&endless),
            Err(RecordError::Invalid(_))
        ));
    }

    #[test]
    fn bad_strings_and_versions_are_errors() {
        let mut bytes = vec![0, 3];
        bytes.put_i64(1);
        bytes.put_i32(0);
        bytes.put_slice(&[0, 2, 0xc3, 0x28]);
        bytes.put_i64(0);
        assert!(matches!(
            OffsetValue::decode(&bytes),
            Err(RecordError::Invalid(_))
        ));

        let mut null_metadata = vec![0, 0];
        null_metadata.put_i64(1);
        null_metadata.put_i16(-1);
        null_metadata.put_i64(0);
        assert_eq!(
            OffsetValue::decode(&null_metadata),
            Err(null_field("metadata"))
        );

        let mut too_long = vec![0, 4];
        too_long.put_i64(1);
        too_long.put_i32(0);
        too_long.put_slice(&[0x82, 0x80, 0x02]); // 32_770 - 1 bytes
        too_long.put_slice(&[b'a'; 40_000]);
        assert!(matches!(
            OffsetValue::decode(&too_long),
            Err(RecordError::Invalid(_))
        ));

        for version in [-1, 5, i16::MAX] {
            let bytes = version.to_be_bytes();
            assert_eq!(
                OffsetValue::decode(&bytes),
                Err(RecordError::UnknownVersion(version))
            );
            assert_eq!(
                GroupValue::decode(&bytes),
                Err(RecordError::UnknownVersion(version))
            );
        }
        assert_eq!(OffsetValue::decode(&[]), Err(RecordError::Truncated));
    }

    #[test]
    fn oversized_strings_are_cut_at_a_char_boundary() {
        let value = OffsetValue {
            metadata: "é".repeat(20_000),
            ..offset_value()
        };
        let decoded = OffsetValue::decode(&value.encode()).map(|v| v.metadata);
        assert_eq!(decoded, Ok("é".repeat(16_383)));
    }
}
