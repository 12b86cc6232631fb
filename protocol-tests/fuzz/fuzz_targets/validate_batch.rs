//! Record batch validation on arbitrary bytes: splitting a record set, header parsing, CRC checks,
//! record walks and bounded decompression must never panic or allocate beyond their caps.
#![no_main]

use kafe::record::batch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batches) = batch::split_record_set(data) {
        for (header, range) in batches {
            let _ = batch::validate_client_batch(&header);
            let _ = batch::records_by_offset(&data[range.clone()]);
            let _ = batch::decode_records(&data[range]);
        }
    }
    let _ = batch::BatchHeader::parse(data);
    // Also walk the records of a batch whose CRC is wrong: lookups read stored batches that passed
    // the CRC, but the walk itself must be safe on any bytes.
    let _ = batch::records_by_offset(data);
});
