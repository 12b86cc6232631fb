//! Storage faults over the wire: an I/O error takes one log directory offline (its partitions answer
//! KAFKA_STORAGE_ERROR, reads included, the others go on), losing the metadata directory or the last
//! data directory stops the broker, a full disk is an error code and never a signal (on a small
//! tmpfs the test mounts, or through the injected file layer where mounting is not possible), and
//! running out of file descriptors never half-creates a topic nor stops the broker accepting.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kafe::log::io::{FaultInjector, Op};
use kafe::record::batch::testing::batch;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::*;
use nix::errno::Errno;

use crate::harness::{Conn, TestBroker};
use crate::requests::*;

const NOW: i64 = 1_700_000_000_000;
const KAFKA_STORAGE_ERROR: i16 = 56;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// A broker in this process, over file operations the test controls.
struct InProcess {
    runtime: tokio::runtime::Runtime,
    broker: Option<kafe::server::Broker>,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl InProcess {
    fn start(faults: &Arc<FaultInjector>, data_dirs: &[&str], metadata_dir: &str) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let dirs: Vec<String> = data_dirs
            .iter()
            .map(|d| root.join(d).display().to_string())
            .collect();
        let overrides = vec![
            "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
            format!("log.dirs={}", dirs.join(",")),
            format!("metadata.log.dir={}", root.join(metadata_dir).display()),
        ];
        let config = kafe::config::BrokerConfig::load(None, &overrides).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ops = Arc::clone(faults) as Arc<dyn kafe::log::io::FileOps>;
        let broker = runtime
            .block_on(kafe::server::start_with(config, ops))
            .unwrap();
        let addr = broker.addresses()[0];
        InProcess {
            runtime,
            broker: Some(broker),
            addr,
            _dir: dir,
            root,
        }
    }

    fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }

    /// The broker's reason to stop, if it has one within `wait`.
    fn failure(&self, wait: Duration) -> Option<String> {
        let broker = self.broker.as_ref().unwrap();
        self.runtime
            .block_on(async { tokio::time::timeout(wait, broker.failed()).await.ok() })
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(broker) = self.broker.take() {
            self.runtime.block_on(broker.halt("test over"));
        }
    }
}

/// The data directory (`a` or `b`) holding a partition's log.
fn home(root: &Path, topic: &str, partition: i32) -> &'static str {
    if root.join("a").join(format!("{topic}-{partition}")).exists() {
        "a"
    } else {
        "b"
    }
}

fn produce_code(conn: &mut Conn, topic: &str, partition: i32) -> i16 {
    produce(conn, 9, topic, partition, batch(0, NOW, &[b"v"]), -1).0
}

#[test]
fn an_io_error_takes_its_directory_offline_and_the_last_one_stops_the_broker() {
    let faults = FaultInjector::new();
    let broker = InProcess::start(&faults, &["a", "b"], "m");
    let mut conn = broker.connect();
    create_topic(&mut conn, "t", 4, &[]);
    let id = topic_id(&mut conn, "t");
    for p in 0..4 {
        assert_eq!(produce_code(&mut conn, "t", p), 0);
    }
    let homes: Vec<&str> = (0..4).map(|p| home(&broker.root, "t", p)).collect();
    assert!(homes.contains(&"a") && homes.contains(&"b"), "{homes:?}");
    faults.fail(
        Op::Write,
        &format!("{}/", broker.root.join("a").display()),
        Errno::EIO,
        None,
    );
    for (p, home) in homes.iter().enumerate() {
        let code = produce_code(&mut conn, "t", p as i32);
        let expected = if *home == "a" { KAFKA_STORAGE_ERROR } else { 0 };
        assert_eq!(code, expected, "produce to partition {p} in {home}");
    }
    // Reads of the failed directory's partitions fail too; the others are served.
    for (p, home) in homes.iter().enumerate() {
        let read = fetch(&mut conn, 12, "t", id, p as i32, 0);
        let expected = if *home == "a" { KAFKA_STORAGE_ERROR } else { 0 };
        assert_eq!(
            read.error_code, expected,
            "fetch from partition {p} in {home}"
        );
    }
    assert_eq!(broker.failure(Duration::from_millis(300)), None);
    // New topics avoid the failed directory.
    create_topic(&mut conn, "u", 2, &[]);
    assert_eq!(home(&broker.root, "u", 0), "b");
    assert_eq!(home(&broker.root, "u", 1), "b");
    // The last data directory failing stops the broker.
    faults.fail(
        Op::Write,
        &format!("{}/", broker.root.join("b").display()),
        Errno::EIO,
        None,
    );
    let b_partition = homes.iter().position(|h| *h == "b").unwrap() as i32;
    assert_eq!(
        produce_code(&mut conn, "t", b_partition),
        KAFKA_STORAGE_ERROR
    );
    let reason = broker
        .failure(Duration::from_secs(10))
        .expect("the broker stops");
    assert!(reason.contains("every log directory"), "{reason}");
}

#[test]
fn a_failed_metadata_directory_stops_the_broker() {
    let faults = FaultInjector::new();
    let broker = InProcess::start(&faults, &["a"], "m");
    let mut conn = broker.connect();
    faults.fail(
        Op::Sync,
        &broker.root.join("m").display().to_string(),
        Errno::EIO,
        None,
    );
    let request = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(name("never"))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &request);
    assert_eq!(response.topics[0].error_code, KAFKA_STORAGE_ERROR);
    let reason = broker
        .failure(Duration::from_secs(10))
        .expect("the broker stops");
    assert!(reason.contains("metadata log directory"), "{reason}");
    assert!(
        !broker.root.join("a/never-0").exists(),
        "the refused topic left no log behind"
    );
}

/// A tmpfs of `size` mounted at `path` for the test's lifetime.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(path).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .ok()?
            .success();
        mounted.then(|| Mount(path.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn delete_topic(conn: &mut Conn, topic: &str) -> i16 {
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(name(topic))),
        ]);
    let response: DeleteTopicsResponse = conn.call(ApiKey::DeleteTopics, 6, &request);
    response.responses[0].error_code
}

/// Reads partition 0 of `topic` from `offset` to the end; (offset, value) of every record.
fn read_values(conn: &mut Conn, topic: &str, id: uuid::Uuid) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let part = fetch(conn, 12, topic, id, 0, offset);
        assert_eq!(part.error_code, 0);
        let Some(records) = part.records.filter(|r| !r.is_empty()) else {
            return out;
        };
        for (header, range) in kafe::record::batch::split_record_set(&records).unwrap() {
            for record in kafe::record::batch::decode_records(&records[range]).unwrap() {
                out.push((record.offset, record.value.unwrap_or_default().to_vec()));
            }
            offset = header.next_offset();
        }
    }
}

#[test]
fn a_full_disk_is_an_error_code_never_a_signal_and_nothing_acknowledged_is_lost() {
    let scratch = tempfile::tempdir().unwrap();
    let mount_point = scratch.path().join("small");
    let Some(_mount) = Mount::tmpfs(&mount_point, "48m") else {
        eprintln!("cannot mount a tmpfs here: proving the same through the injected file layer");
        full_disk_through_the_injected_layer();
        return;
    };
    let data = mount_point.join("data");
    let mut broker = TestBroker::start(&[&format!("log.dirs={}", data.display())]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "filler", 1, &[]);
    create_topic(&mut conn, "kept", 1, &[]);
    let kept = topic_id(&mut conn, "kept");
    let big = vec![0x5a_u8; 256 * 1024];
    let mut acknowledged: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut full = false;
    for i in 0..1000 {
        let topic = if i % 4 == 0 { "kept" } else { "filler" };
        let mut value = big.clone();
        value[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let (code, offset) = produce(&mut conn, 9, topic, 0, batch(0, NOW, &[&value]), -1);
        match code {
            0 if topic == "kept" => acknowledged.push((offset, value)),
            0 => {}
            KAFKA_STORAGE_ERROR => {
                full = true;
                break;
            }
            other => panic!("produce on a filling disk answered {other}"),
        }
    }
    assert!(full, "the 48 MiB disk never filled");
    assert!(broker.is_running(), "the broker died on a full disk");
    for _ in 0..5 {
        assert_eq!(
            produce(&mut conn, 9, "kept", 0, batch(0, NOW, &[&big]), -1).0,
            KAFKA_STORAGE_ERROR
        );
    }
    // Reads keep working.
    assert_eq!(read_values(&mut conn, "kept", kept), acknowledged);
    // A stop on the full disk writes what it can and names what it could not; the next start
    // (recovering, since the stop was not clean) still has every acknowledged record.
    drop(conn);
    let status = broker.terminate().expect("running");
    let log = broker.log();
    assert!(
        status.success() || log.contains("could not write"),
        "exit {status}, log:\n{log}"
    );
    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(read_values(&mut conn, "kept", kept), acknowledged);
    // Deleting a topic still works (its metadata record uses the space kept in reserve), and the
    // space it frees lets writes resume by themselves.
    assert_eq!(delete_topic(&mut conn, "filler"), 0);
    let mut resumed = false;
    for _ in 0..50 {
        let (code, offset) = produce(&mut conn, 9, "kept", 0, batch(0, NOW, &[b"after"]), -1);
        if code == 0 {
            acknowledged.push((offset, b"after".to_vec()));
            resumed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(resumed, "writes did not resume once space returned");
    drop(conn);
    broker.stop();
    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(read_values(&mut conn, "kept", kept), acknowledged);
    drop(conn);
    broker.kill9();
    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(read_values(&mut conn, "kept", kept), acknowledged);
    assert_eq!(
        list_offset(&mut conn, 8, "filler", 0, -1).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

/// The full-disk case where no filesystem can be mounted: the same answers, from injected ENOSPC.
fn full_disk_through_the_injected_layer() {
    let faults = FaultInjector::new();
    let broker = InProcess::start(&faults, &["a"], "a");
    let mut conn = broker.connect();
    create_topic(&mut conn, "kept", 1, &[]);
    let kept = topic_id(&mut conn, "kept");
    let (code, first) = produce(&mut conn, 9, "kept", 0, batch(0, NOW, &[b"one"]), -1);
    assert_eq!(code, 0);
    faults.fail(Op::Write, "kept-0", Errno::ENOSPC, None);
    faults.fail(Op::Allocate, "kept-0", Errno::ENOSPC, None);
    for _ in 0..5 {
        assert_eq!(produce_code(&mut conn, "kept", 0), KAFKA_STORAGE_ERROR);
    }
    assert_eq!(
        read_values(&mut conn, "kept", kept),
        vec![(first, b"one".to_vec())]
    );
    faults.clear();
    let (code, second) = produce(&mut conn, 9, "kept", 0, batch(0, NOW, &[b"two"]), -1);
    assert_eq!((code, second), (0, first + 1));
    assert_eq!(broker.failure(Duration::from_millis(200)), None);
}

#[test]
fn running_out_of_descriptors_never_half_creates_a_topic() {
    let limit: u64 = 160;
    let broker = TestBroker::start_with_open_file_limit(&[], limit);
    let mut control = broker.connect();
    create_topic(&mut control, "warmup", 1, &[]);
    // Take descriptors until the broker cannot accept any more connections.
    let mut held: Vec<Conn> = Vec::new();
    loop {
        let mut conn = broker.connect();
        conn.set_read_timeout(Duration::from_millis(500));
        let answered = conn.try_api_versions();
        if !answered {
            held.push(conn);
            break;
        }
        held.push(conn);
        assert!(
            (held.len() as u64) < limit,
            "the descriptor limit was not reached"
        );
    }
    let request = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(name("starved"))
            .with_num_partitions(20)
            .with_replication_factor(1),
    ]);
    let response: CreateTopicsResponse = control.call(ApiKey::CreateTopics, 7, &request);
    let result = &response.topics[0];
    assert_eq!(result.error_code, KAFKA_STORAGE_ERROR, "{result:?}");
    let message = result
        .error_message
        .as_deref()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("open files"), "{message}");
    // Nothing of the refused topic remains: not in the metadata, not on disk.
    assert_eq!(
        list_offset(&mut control, 8, "starved", 0, -1).0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert!(!broker.partition_dir("starved", 0).exists());
    // Free descriptors: the connection left waiting is accepted, and the topic can be made.
    let mut waiting = held.pop().unwrap();
    held.truncate(held.len() / 2);
    waiting.set_read_timeout(Duration::from_secs(10));
    assert!(waiting.try_api_versions(), "accepting did not resume");
    create_topic(&mut control, "starved", 20, &[]);
    assert_eq!(list_offset(&mut control, 8, "starved", 19, -1), (0, 0, -1));
}

const REQUEST_TIMED_OUT: i16 = 7;

/// Produces one batch to each of `partitions` of `topic` in one acks=all request.
fn produce_many(
    conn: &mut Conn,
    topic: &str,
    partitions: i32,
    records: &[u8],
    timeout_ms: i32,
) -> Vec<i16> {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let data = (0..partitions)
        .map(|p| {
            PartitionProduceData::default()
                .with_index(p)
                .with_records(Some(bytes::Bytes::copy_from_slice(records)))
        })
        .collect();
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(data),
        ]);
    let response: ProduceResponse = conn.call(ApiKey::Produce, 9, &request);
    response.responses[0]
        .partition_responses
        .iter()
        .map(|p| p.error_code)
        .collect()
}

#[test]
fn one_acks_all_request_waits_against_one_deadline() {
    let faults = FaultInjector::new();
    let broker = InProcess::start(&faults, &["a"], "m");
    let mut conn = broker.connect();
    create_topic(&mut conn, "slow", 4, &[]);
    // Every partition's fsync takes 400 ms: waiting for four in turn takes 1.6 s, more than the
    // request's 1 s.
    faults.delay(Op::Sync, "slow-", Duration::from_millis(400));
    let started = std::time::Instant::now();
    let codes = produce_many(&mut conn, "slow", 4, &batch(0, NOW, &[b"x"]), 1000);
    let took = started.elapsed();
    assert_eq!(codes[0], 0, "{codes:?}");
    assert_eq!(codes[3], REQUEST_TIMED_OUT, "{codes:?}");
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
}

#[test]
fn a_retried_batch_is_acknowledged_only_once_the_first_write_is_durable() {
    use kafe::record::batch::testing::batch_with_producer;
    let faults = FaultInjector::new();
    let broker = InProcess::start(&faults, &["a"], "m");
    let mut conn = broker.connect();
    create_topic(&mut conn, "retry", 1, &[]);
    let records = batch_with_producer(0, NOW, &[b"x"], 42, 0, 0);
    faults.delay(Op::Sync, "retry-", Duration::from_millis(1500));
    // acks=1: appended, not yet on disk.
    assert_eq!(
        produce(&mut conn, 9, "retry", 0, records.clone(), 1),
        (0, 0)
    );
    // The same batch again with acks=all: a duplicate, but not durable yet, so not acknowledged
    // within 500 ms...
    let mut request = produce_request("retry", 0, bytes::Bytes::from(records.clone()), -1);
    request.timeout_ms = 500;
    let response: ProduceResponse = conn.call(ApiKey::Produce, 9, &request);
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        REQUEST_TIMED_OUT
    );
    // ...and acknowledged with the first write's offset once it is.
    assert_eq!(produce(&mut conn, 9, "retry", 0, records, -1), (0, 0));
    assert_eq!(
        list_offset(&mut conn, 8, "retry", 0, -1).1,
        1,
        "written once"
    );
}
