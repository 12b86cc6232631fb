//! Hostile input: for every API key and version the broker serves, requests with enormous array
//! counts and string lengths at every byte position, truncated bodies and garbage; oversized and
//! negative size prefixes, unknown keys, broken headers. After each kind, the broker must still
//! serve a fresh connection and its resident memory must stay bounded.

use std::time::Duration;

use kafe::protocol::samples;
use kafe::protocol::versions::SUPPORTED;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};

use crate::harness::{Conn, TestBroker};

/// Resident memory the broker may reach during these tests.
const RSS_LIMIT_KIB: u64 = 256 * 1024;

fn still_serving(broker: &mut TestBroker) {
    assert!(
        broker.is_running(),
        "the broker died; log:\n{}",
        broker.log()
    );
    let mut conn = broker.connect();
    let response: ApiVersionsResponse =
        conn.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
    let rss = broker.rss_kib();
    assert!(rss < RSS_LIMIT_KIB, "resident memory grew to {rss} KiB");
}

/// A tiny deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Sends each body as a request of `key`/`version` on a connection, reconnecting whenever the
/// broker closes one. A response or a close are both fine; what matters is that the broker lives.
fn send_all(broker: &TestBroker, key: ApiKey, version: i16, bodies: &[Vec<u8>]) {
    let mut conn: Option<Conn> = None;
    for body in bodies {
        let c = conn.get_or_insert_with(|| {
            let mut c = broker.connect();
            c.set_read_timeout(Duration::from_millis(1500));
            c
        });
        let (_, frame) = c.frame(key, version, body);
        if c.send_raw(&frame).is_err() || c.read_frame().is_none() {
            conn = None;
        }
    }
}

/// Every mutation of `body` the hostile tests send: a huge count or length written at each byte
/// position (as int32, int16 and as a 5-byte varint), the body cut at each position, and garbage.
fn mutations(body: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for at in 0..body.len() {
        for forged in [
            &0x7fff_ffffi32.to_be_bytes()[..],
            &0x7fffi16.to_be_bytes()[..],
            &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
        ] {
            let mut m = body.to_vec();
            let end = (at + forged.len()).min(m.len());
            m.splice(at..end, forged.iter().copied());
            out.push(m);
        }
        out.push(body[..at].to_vec());
    }
    for len in [0usize, 1, 7, 64, 512] {
        out.push(rng.bytes(len));
    }
    out
}

#[test]
fn forged_counts_lengths_truncations_and_garbage_for_every_api_and_version() {
    // Produce acks and fetch waits read from forged bytes can ask for long waits; keep them short.
    let mut broker = TestBroker::start(&[]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for api in SUPPORTED {
        for version in api.min..=api.max {
            let body = samples::encoded(api.key as i16, version)
                .unwrap_or_else(|| panic!("no sample for {:?} v{version}", api.key));
            send_all(&broker, api.key, version, &mutations(&body, &mut rng));
        }
        still_serving(&mut broker);
    }
}

#[test]
fn bad_size_prefixes_close_the_connection_without_allocating() {
    let mut broker = TestBroker::start(&[]);
    for size in [-1i32, i32::MIN, 100 * 1024 * 1024 + 1, i32::MAX] {
        let mut conn = broker.connect();
        conn.send_raw(&size.to_be_bytes()).unwrap();
        assert!(
            conn.is_closed_by_peer(Duration::from_secs(5)),
            "size {size} was not refused"
        );
    }
    still_serving(&mut broker);
    // Announcing 100 MiB and sending 10 bytes, on many connections, costs no memory.
    let mut idle: Vec<Conn> = (0..50)
        .map(|_| {
            let mut c = broker.connect();
            c.send_raw(&(100 * 1024 * 1024i32).to_be_bytes()).unwrap();
            c.send_raw(&[0u8; 10]).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    still_serving(&mut broker);
    idle.clear();
}

#[test]
fn unknown_keys_and_broken_headers_close_the_connection() {
    let mut broker = TestBroker::start(&[]);
    let frames: Vec<Vec<u8>> = vec![
        // Unknown API key 9999.
        [
            &10i32.to_be_bytes()[..],
            &9999i16.to_be_bytes(),
            &0i16.to_be_bytes(),
            &1i32.to_be_bytes(),
            &(-1i16).to_be_bytes(),
        ]
        .concat(),
        // A key kafka-protocol knows but the broker does not serve (LeaderAndIsr).
        [
            &10i32.to_be_bytes()[..],
            &4i16.to_be_bytes(),
            &0i16.to_be_bytes(),
            &1i32.to_be_bytes(),
            &(-1i16).to_be_bytes(),
        ]
        .concat(),
        // A client id longer than the frame.
        [
            &10i32.to_be_bytes()[..],
            &3i16.to_be_bytes(),
            &1i16.to_be_bytes(),
            &1i32.to_be_bytes(),
            &0x7fffi16.to_be_bytes(),
        ]
        .concat(),
        // Too short for a header.
        [&3i32.to_be_bytes()[..], &[1, 2, 3]].concat(),
        // A flexible header whose tagged fields claim more than the frame holds.
        [
            &11i32.to_be_bytes()[..],
            &3i16.to_be_bytes(),
            &9i16.to_be_bytes(),
            &1i32.to_be_bytes(),
            &(-1i16).to_be_bytes(),
            &[0x7f],
        ]
        .concat(),
    ];
    for frame in frames {
        let mut conn = broker.connect();
        conn.send_raw(&frame).unwrap();
        assert!(conn.read_frame().is_none(), "{frame:?} was answered");
    }
    still_serving(&mut broker);
}

#[test]
fn garbage_from_many_connections_at_once() {
    let mut broker = TestBroker::start(&[]);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let addr = broker.addr;
            std::thread::spawn(move || {
                let mut rng = Rng(0xdead_beef + t);
                for _ in 0..200 {
                    let mut conn = Conn::connect(addr);
                    let len = (rng.next() % 300) as usize;
                    let mut frame = (len as i32).to_be_bytes().to_vec();
                    frame.extend(rng.bytes(len));
                    let _ = conn.send_raw(&frame);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    still_serving(&mut broker);
}
