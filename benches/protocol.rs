//! Micro-benchmarks of the request hot paths: splitting a Produce frame into header and body and
//! decoding it (guard walk plus the generic decoder), validating a record batch (CRC-32C), and
//! encoding a Fetch response around file regions.
//!
//! Run: `cargo bench --bench protocol`.

use std::io::Write;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafe::protocol::fetch_encoder::{self, FetchResult, FetchedPartition, FetchedTopic};
use kafe::protocol::{header, request};
use kafe::record::FileRegion;
use kafe::record::batch::{self, testing};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};

/// A batch of `count` records of `size` bytes.
fn records(count: usize, size: usize) -> Vec<u8> {
    let value = vec![7u8; size];
    let values: Vec<&[u8]> = (0..count).map(|_| value.as_slice()).collect();
    testing::batch(0, 1_700_000_000_000, &values)
}

/// A Produce v9 frame (header and body, no size prefix) carrying `records`.
fn produce_frame(records: &[u8]) -> Bytes {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("orders")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::copy_from_slice(records))),
                ]),
        ]);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(9)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("bench")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, ApiKey::Produce.request_header_version(9))
        .expect("header");
    request.encode(&mut buf, 9).expect("body");
    buf.freeze()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("produce_decode");
    for (name, count, size) in [
        ("1x100B", 1, 100),
        ("1000x100B", 1000, 100),
        ("1000x1KiB", 1000, 1024),
    ] {
        let frame = produce_frame(&records(count, size));
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let (h, body) = header::parse(&frame).expect("header");
                request::decode(h.api_key, h.api_version, &body).expect("decode")
            })
        });
    }
    group.finish();
}

fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_validate");
    for (name, count, size) in [("100x100B", 100, 100), ("1000x1KiB", 1000, 1024)] {
        let set = records(count, size);
        group.throughput(Throughput::Bytes(set.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| batch::split_record_set(&set).expect("valid"))
        });
    }
    group.finish();
}

fn fetch_encode(c: &mut Criterion) {
    let mut file = tempfile::tempfile().expect("file");
    file.write_all(&[0u8; 4096]).expect("write");
    let file = Arc::new(file);
    let mut group = c.benchmark_group("fetch_encode");
    for partitions in [1usize, 100] {
        let result = FetchResult {
            session_id: 1,
            topics: vec![FetchedTopic {
                name: "orders".into(),
                topic_id: uuid::Uuid::nil(),
                partitions: (0..partitions as i32)
                    .map(|index| FetchedPartition {
                        index,
                        error_code: 0,
                        high_watermark: 1000,
                        last_stable_offset: 1000,
                        log_start_offset: 0,
                        aborted_transactions: None,
                        records: Some(FileRegion {
                            file: Arc::clone(&file),
                            position: 0,
                            len: 4096,
                        }),
                    })
                    .collect(),
            }],
            ..FetchResult::default()
        };
        group.throughput(Throughput::Elements(partitions as u64));
        group.bench_function(format!("{partitions}_partitions_v12"), |b| {
            b.iter(|| fetch_encoder::encode(&result, 12, 7))
        });
    }
    group.finish();
}

criterion_group!(benches, decode, validate, fetch_encode);
criterion_main!(benches);
