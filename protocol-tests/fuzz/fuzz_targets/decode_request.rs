//! Request decoding on arbitrary frames: header parsing, the decode guard and the generic decoder
//! must never panic, abort or allocate beyond the input. Seeds: `kafe::protocol::samples`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    if let Ok((header, body)) = kafe::protocol::header::parse(&frame) {
        let _ = kafe::protocol::request::decode(header.api_key, header.api_version, &body);
    }
});
