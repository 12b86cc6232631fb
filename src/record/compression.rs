//! Bounded decompression of record batch payloads, used only to look inside compressed batches
//! (exact timestamp lookups). Appends and fetches never decompress.
//!
//! Codecs as Kafka writes them: 1 gzip, 2 snappy (the xerial-framed stream Java clients write, or a
//! raw block as librdkafka writes), 3 LZ4 frame format, 4 zstd frames. The output is capped: a batch
//! that expands past the cap (a compression bomb) is an error, never an allocation.

use std::io::Read;

/// The most a batch's records may expand to when decompressed for a lookup.
pub const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";

fn read_capped(reader: impl Read, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("decompression failed: {e}"))?;
    if out.len() > limit {
        return Err(format!("records expand past {limit} bytes"));
    }
    Ok(out)
}

fn snappy_block(block: &[u8], room: usize) -> Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(block).map_err(|e| format!("snappy: {e}"))?;
    if len > room {
        return Err(format!("snappy block of {len} bytes exceeds the cap"));
    }
    snap::raw::Decoder::new()
        .decompress_vec(block)
        .map_err(|e| format!("snappy: {e}"))
}

fn snappy(data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let Some(mut rest) = data.strip_prefix(XERIAL_MAGIC.as_slice()) else {
        return snappy_block(data, limit);
    };
    // Version and minimum compatible version, then blocks of `length: i32` + raw snappy.
    rest = rest.get(8..).ok_or("snappy: truncated xerial header")?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("snappy: truncated block length")?;
        let len = u32::from_be_bytes(len_bytes) as usize;
        let block = rest
            .get(4..4 + len)
            .ok_or("snappy: block runs past the batch")?;
        out.extend(snappy_block(block, limit - out.len())?);
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// Decompresses a batch's records section compressed with `codec` (the batch attributes' low bits).
pub fn decompress(codec: u8, data: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    match codec {
        0 => Ok(data.to_vec()),
        1 => read_capped(flate2::read::GzDecoder::new(data), limit),
        2 => snappy(data, limit),
        3 => read_capped(lz4_flex::frame::FrameDecoder::new(data), limit),
        4 => read_capped(
            zstd::stream::read::Decoder::new(data).map_err(|e| format!("zstd: {e}"))?,
            limit,
        ),
        other => Err(format!("unknown compression codec {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn payload() -> Vec<u8> {
        (0..10_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = payload();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let raw_snappy = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut xerial = XERIAL_MAGIC.to_vec();
        xerial.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for chunk in data.chunks(3000) {
            let block = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            xerial.extend_from_slice(&(block.len() as u32).to_be_bytes());
            xerial.extend_from_slice(&block);
        }
        let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz4.write_all(&data).unwrap();
        let lz4 = lz4.finish().unwrap();
        let zstd = zstd::encode_all(&data[..], 3).unwrap();
        for (codec, compressed) in [
            (0, data.clone()),
            (1, gz),
            (2, raw_snappy),
            (2, xerial),
            (3, lz4),
            (4, zstd),
        ] {
            assert_eq!(
                decompress(codec, &compressed, MAX_DECOMPRESSED).unwrap(),
                data,
                "codec {codec}"
            );
        }
    }

    #[test]
    fn bombs_and_garbage_are_errors() {
        let zeros = vec![0u8; 1 << 20];
        let bomb = zstd::encode_all(&zeros[..], 3).unwrap();
        assert!(decompress(4, &bomb, 1000).is_err());
        let raw = snap::raw::Encoder::new().compress_vec(&zeros).unwrap();
        assert!(decompress(2, &raw, 1000).is_err());
        for codec in 1..=4 {
            assert!(
                decompress(codec, b"definitely not compressed", MAX_DECOMPRESSED).is_err(),
                "codec {codec}"
            );
        }
        assert!(decompress(7, b"", 10).is_err());
    }
}
