//! Decode guard: walks an untrusted request body against a description of its wire shape before the
//! generic `kafka-protocol` decoder sees it.
//!
//! Why this exists: `kafka-protocol` reads an array count off the wire and calls
//! `Vec::with_capacity(count)` before reading a single element, so a few bytes claiming 2^31 elements
//! make the allocator abort the whole process. The walker here checks every length and count against
//! the bytes that actually remain, walks every element, and rejects the frame at the first field that
//! does not fit. A body that passes has only counts the frame can back, so the generic decoder then
//! allocates in proportion to the bytes received.
//!
//! The shapes (in [`super::shapes`]) say, per API key and version, which fields a message has. Strings,
//! bytes and arrays switch to their compact (varint-length) forms from the message's first flexible
//! version on, where every struct also ends in a tagged-field section.

use std::fmt;

/// One field's wire type. Compact or classic encoding follows the message's flexible versions.
#[derive(Debug)]
pub enum Kind {
    /// A fixed-width value of this many bytes (int8 .. int64, float64, bool, uuid).
    Fixed(usize),
    /// An unsigned varint (e.g. a record count in some internal messages).
    UVarint,
    /// A string, nullable or not (the generic decoder rejects a null where none is allowed).
    Str,
    /// A byte string, also used for record sets.
    Bytes,
    /// An array whose elements all have the given kind.
    Array(&'static Kind),
    /// A nested struct, which ends in its own tagged fields in flexible versions.
    Struct(&'static StructShape),
}

/// A field present in the versions `min..=max`.
#[derive(Debug)]
pub struct Field {
    pub min: i16,
    pub max: i16,
    pub kind: Kind,
}

/// A known tagged field: its content must fill exactly the size declared on the wire.
#[derive(Debug)]
pub struct TaggedField {
    pub tag: u32,
    pub min: i16,
    pub max: i16,
    pub kind: Kind,
}

/// The fields of one struct, in wire order, and its known tagged fields.
#[derive(Debug)]
pub struct StructShape {
    pub fields: &'static [Field],
    pub tagged: &'static [TaggedField],
}

/// The body of one request type.
#[derive(Debug)]
pub struct MessageShape {
    /// The first flexible version (`i16::MAX` when the message has none).
    pub flexible_from: i16,
    pub body: StructShape,
}

/// The highest version number, for fields that exist "from version N on".
pub const LATEST: i16 = i16::MAX;

/// A field present in `min..=max`.
pub const fn field(min: i16, max: i16, kind: Kind) -> Field {
    Field { min, max, kind }
}

/// A known tagged field present in `min..=max`.
pub const fn tagged(tag: u32, min: i16, max: i16, kind: Kind) -> TaggedField {
    TaggedField {
        tag,
        min,
        max,
        kind,
    }
}

pub const INT8: Kind = Kind::Fixed(1);
pub const BOOL: Kind = Kind::Fixed(1);
pub const INT16: Kind = Kind::Fixed(2);
pub const INT32: Kind = Kind::Fixed(4);
pub const INT64: Kind = Kind::Fixed(8);
pub const FLOAT64: Kind = Kind::Fixed(8);
pub const UUID: Kind = Kind::Fixed(16);

/// Why a body was rejected, with the byte position where the walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardError {
    pub position: usize,
    pub reason: &'static str,
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed request at byte {}: {}",
            self.position, self.reason
        )
    }
}

impl std::error::Error for GuardError {}

/// How deeply structs may nest; real messages stay below 6.
const MAX_DEPTH: usize = 16;

/// Checks that `body` starts with a well-formed instance of `shape` at `version`.
pub fn check_body(shape: &MessageShape, version: i16, body: &[u8]) -> Result<(), GuardError> {
    let mut walker = Walker {
        buf: body,
        pos: 0,
        version,
        flexible: version >= shape.flexible_from,
    };
    // Bytes after the body are ignored, as Kafka ignores them: librdkafka 2.x sends three stray
    // bytes after a Metadata v9+ request for all topics (an unfinished array-count placeholder).
    walker.walk_struct(&shape.body, 0)
}

/// Checks the tagged-field section of a flexible request header (header v2) and returns its length.
pub fn check_header_tags(buf: &[u8]) -> Result<usize, GuardError> {
    let mut walker = Walker {
        buf,
        pos: 0,
        version: 0,
        flexible: true,
    };
    walker.walk_tagged(&[], 0)?;
    Ok(walker.pos)
}

struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    version: i16,
    flexible: bool,
}

impl Walker<'_> {
    fn error(&self, reason: &'static str) -> GuardError {
        GuardError {
            position: self.pos,
            reason,
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn skip(&mut self, n: usize) -> Result<(), GuardError> {
        if n > self.remaining() {
            return Err(self.error("length runs past the end of the frame"));
        }
        self.pos += n;
        Ok(())
    }

    fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], GuardError> {
        let bytes = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or_else(|| self.error("truncated field"))?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        self.pos += N;
        Ok(out)
    }

    fn read_uvarint(&mut self) -> Result<u32, GuardError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let [byte] = self.read_fixed::<1>()?;
            if i == 4 && byte > 0x0f {
                return Err(self.error("varint overflows 32 bits"));
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 5 bytes"))
    }

    /// Reads a length that may be null: classic form is a signed int of `classic_width` bytes,
    /// compact form an unsigned varint holding length + 1. Returns `None` for null.
    fn read_length(&mut self, classic_width: usize) -> Result<Option<usize>, GuardError> {
        if self.flexible {
            return Ok(match self.read_uvarint()? {
                0 => None,
                n => Some(n as usize - 1),
            });
        }
        let n = match classic_width {
            2 => i32::from(i16::from_be_bytes(self.read_fixed::<2>()?)),
            _ => i32::from_be_bytes(self.read_fixed::<4>()?),
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(self.error("negative length")),
            n => Ok(Some(n as usize)),
        }
    }

    fn walk_kind(&mut self, kind: &Kind, depth: usize) -> Result<(), GuardError> {
        match kind {
            Kind::Fixed(n) => self.skip(*n),
            Kind::UVarint => self.read_uvarint().map(drop),
            Kind::Str => match self.read_length(2)? {
                None => Ok(()),
                Some(len) => {
                    let start = self.pos;
                    self.skip(len)?;
                    std::str::from_utf8(&self.buf[start..self.pos])
                        .map(drop)
                        .map_err(|_| self.error("string is not UTF-8"))
                }
            },
            Kind::Bytes => match self.read_length(4)? {
                None => Ok(()),
                Some(len) => self.skip(len),
            },
            Kind::Array(element) => match self.read_length(4)? {
                None => Ok(()),
                Some(count) => {
                    // Every element takes at least one byte, so a count above the bytes left is a lie;
                    // checking it here keeps even a zero-sized element type from looping for long.
                    if count > self.remaining() {
                        return Err(self.error("array count exceeds the bytes that remain"));
                    }
                    for _ in 0..count {
                        let before = self.pos;
                        self.walk_kind(element, depth + 1)?;
                        if self.pos == before {
                            return Err(self.error("array element of zero bytes"));
                        }
                    }
                    Ok(())
                }
            },
            Kind::Struct(shape) => self.walk_struct(shape, depth + 1),
        }
    }

    fn walk_struct(&mut self, shape: &StructShape, depth: usize) -> Result<(), GuardError> {
        if depth > MAX_DEPTH {
            return Err(self.error("structs nested too deeply"));
        }
        for field in shape.fields {
            if (field.min..=field.max).contains(&self.version) {
                self.walk_kind(&field.kind, depth)?;
            }
        }
        if self.flexible {
            self.walk_tagged(shape.tagged, depth)?;
        }
        Ok(())
    }

    fn walk_tagged(&mut self, known: &[TaggedField], depth: usize) -> Result<(), GuardError> {
        let count = self.read_uvarint()? as usize;
        // Each tagged field takes at least two bytes (tag and size).
        if count > self.remaining() / 2 {
            return Err(self.error("tagged field count exceeds the bytes that remain"));
        }
        for _ in 0..count {
            let tag = self.read_uvarint()?;
            let size = self.read_uvarint()? as usize;
            if size > self.remaining() {
                return Err(self.error("tagged field runs past the end of the frame"));
            }
            let end = self.pos + size;
            let known_field = known
                .iter()
                .find(|t| t.tag == tag && (t.min..=t.max).contains(&self.version));
            match known_field {
                Some(field) => {
                    self.walk_kind(&field.kind, depth)?;
                    if self.pos != end {
                        return Err(self.error("tagged field content does not fill its size"));
                    }
                }
                None => self.pos = end,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ELEMENT: StructShape = StructShape {
        fields: &[field(0, LATEST, INT32), field(1, LATEST, Kind::Str)],
        tagged: &[],
    };
    static SHAPE: MessageShape = MessageShape {
        flexible_from: 2,
        body: StructShape {
            fields: &[
                field(0, LATEST, INT16),
                field(0, LATEST, Kind::Array(&Kind::Struct(&ELEMENT))),
            ],
            tagged: &[tagged(0, 2, LATEST, Kind::Array(&INT32))],
        },
    };

    #[test]
    fn accepts_a_classic_body() {
        // int16, array of 1 element { int32, string "ab" }
        let body = [0, 7, 0, 0, 0, 1, 0, 0, 0, 9, 0, 2, b'a', b'b'];
        assert_eq!(check_body(&SHAPE, 1, &body), Ok(()));
    }

    #[test]
    fn rejects_a_huge_array_count_before_walking() {
        let body = [0, 7, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 9];
        let err = check_body(&SHAPE, 1, &body).unwrap_err();
        assert_eq!(err.reason, "array count exceeds the bytes that remain");
    }

    #[test]
    fn rejects_a_string_longer_than_the_frame() {
        let body = [0, 7, 0, 0, 0, 1, 0, 0, 0, 9, 0x7f, 0xff, b'a'];
        assert!(check_body(&SHAPE, 1, &body).is_err());
    }

    #[test]
    fn tolerates_trailing_bytes_like_kafka() {
        let body = [0, 7, 0, 0, 0, 0, 1];
        assert_eq!(check_body(&SHAPE, 0, &body), Ok(()));
    }

    #[test]
    fn walks_compact_forms_and_known_tags() {
        // flexible: int16, compact array (1+1) of {int32, compact string "a", no tags}, tags: 1 field
        // tag 0 size 3: compact array (2+1 -> 2 elements?) -> here 1 element of int32 needs 1+4 = 5 bytes
        let body = [0, 7, 2, 0, 0, 0, 9, 2, b'a', 0, 1, 0, 5, 2, 0, 0, 0, 1];
        assert_eq!(check_body(&SHAPE, 2, &body), Ok(()));
        // The same tag declaring a size that its content does not fill is rejected.
        let body = [0, 7, 1, 1, 0, 6, 2, 0, 0, 0, 1, 0];
        assert!(check_body(&SHAPE, 2, &body).is_err());
    }

    #[test]
    fn rejects_overlong_varints() {
        let body = [0, 7, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(check_body(&SHAPE, 2, &body).is_err());
    }
}
