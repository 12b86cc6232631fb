//! The cluster's control plane: how fast metadata changes commit, and how long the cluster is
//! without a controller when the active one dies.
//!
//! - Topic creation: 1,000 topics (one partition each), one CreateTopics request per topic and
//!   then 100 topics per request, on a single node (a quorum of one) and through a broker of a
//!   three-node cluster that is not the controller (forwarded, committed by a majority, replication
//!   factor 3). Trials alternate single node and cluster (A B A B ...), each on fresh processes;
//!   medians and the ratio are printed. With `--reference BINARY`, the single node of another
//!   build runs as a third column (for a before/after comparison).
//! - Failover: the active controller is killed with SIGKILL and a CreateTopics is sent through a
//!   surviving broker until it succeeds; the time from the kill to that success, with Kafka's
//!   default timings (election timeout 1 s). Repeated, the killed node restarted in between.
//!
//! `cargo bench --bench cluster [-- --trials N --topics N --failovers N --reference BINARY]`

#[path = "../cluster-tests/cluster.rs"]
#[allow(dead_code)]
mod cluster;
#[path = "../protocol-tests/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../cluster-tests/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::{Conn, TestBroker};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use cluster::TestCluster;

struct Options {
    trials: usize,
    topics: usize,
    failovers: usize,
    reference: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        trials: 3,
        topics: 1000,
        failovers: 5,
        reference: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--trials" => o.trials = value.parse().expect("--trials N"),
            "--topics" => o.topics = value.parse().expect("--topics N"),
            "--failovers" => o.failovers = value.parse().expect("--failovers N"),
            "--reference" => o.reference = Some(value),
            // `cargo bench` passes --bench.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// Creates `count` topics named `prefix-N`, `per_request` to a request; returns topics per second.
fn create_topics(addr: SocketAddr, prefix: &str, count: usize, per_request: usize, rf: i16) -> f64 {
    let mut conn = Conn::connect(addr);
    let started = Instant::now();
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    for chunk in names.chunks(per_request) {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(60_000)
            .with_topics(
                chunk
                    .iter()
                    .map(|n| {
                        CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(n.clone())))
                            .with_num_partitions(1)
                            .with_replication_factor(rf)
                    })
                    .collect(),
            );
        let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &request);
        for t in &response.topics {
            assert_eq!(t.error_code, 0, "{}: {:?}", t.name.0, t.error_message);
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Topics per second (one per request, 100 per request) on a fresh single node.
fn single_node(topics: usize, binary: Option<&str>) -> (f64, f64) {
    use_binary(binary);
    let broker = TestBroker::start(&[]);
    use_binary(None);
    let one = create_topics(broker.addr, "one", topics, 1, 1);
    let hundred = create_topics(broker.addr, "batch", topics, 100, 1);
    (one, hundred)
}

/// Which kafe binary the harness starts next (`None`: this build's).
fn use_binary(binary: Option<&str>) {
    // SAFETY: the bench runs on one thread; nothing reads the environment concurrently.
    unsafe {
        match binary {
            Some(path) => std::env::set_var("KAFE_BINARY", path),
            None => std::env::remove_var("KAFE_BINARY"),
        }
    }
}

/// The same through a broker of a fresh three-node cluster that is not the controller.
fn three_nodes(topics: usize) -> (f64, f64) {
    let mut cluster = TestCluster::start(3, &[], &[0, 1, 2]);
    let leader = cluster.quorum_leader().expect("a quorum leader");
    let via = cluster.node((leader + 1) % 3).addr();
    let one = create_topics(via, "one", topics, 1, 3);
    let hundred = create_topics(via, "batch", topics, 100, 3);
    (one, hundred)
}

fn topic_creation(o: &Options) {
    println!(
        "topic creation: {} topics, 1 partition each; topics/s (one per request | 100 per request)",
        o.topics
    );
    let mut single = (Vec::new(), Vec::new());
    let mut cluster = (Vec::new(), Vec::new());
    let mut reference = (Vec::new(), Vec::new());
    for trial in 1..=o.trials {
        let a = single_node(o.topics, None);
        let b = three_nodes(o.topics);
        print!(
            "trial {trial}: single node {:>7.0} | {:>7.0}   3-node cluster (RF=3, forwarded) {:>7.0} | {:>7.0}",
            a.0, a.1, b.0, b.1
        );
        single.0.push(a.0);
        single.1.push(a.1);
        cluster.0.push(b.0);
        cluster.1.push(b.1);
        if let Some(path) = &o.reference {
            let r = single_node(o.topics, Some(path));
            print!("   reference single node {:>7.0} | {:>7.0}", r.0, r.1);
            reference.0.push(r.0);
            reference.1.push(r.1);
        }
        println!();
    }
    let (s0, s1) = (median(single.0), median(single.1));
    let (c0, c1) = (median(cluster.0), median(cluster.1));
    println!(
        "median:  single node {s0:>7.0} | {s1:>7.0}   3-node cluster {c0:>7.0} | {c1:>7.0}   cluster/single {:.2} | {:.2}",
        c0 / s0,
        c1 / s1
    );
    if !reference.0.is_empty() {
        let (r0, r1) = (median(reference.0), median(reference.1));
        println!(
            "median:  reference single node {r0:>7.0} | {r1:>7.0}   this/reference {:.2} | {:.2}",
            s0 / r0,
            s1 / r1
        );
    }
}

fn failover(o: &Options) {
    println!(
        "controller failover (Kafka's default timings): SIGKILL of the active controller until a CreateTopics through a survivor succeeds"
    );
    let mut cluster = TestCluster::start(3, &[], &[0, 1, 2]);
    let mut times = Vec::new();
    for trial in 1..=o.failovers {
        let leader = cluster.quorum_leader().expect("a quorum leader");
        let survivor = cluster.node((leader + 1) % 3).addr();
        let killed = Instant::now();
        cluster.kill9(leader);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = Conn::connect(survivor);
            let request = CreateTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(format!(
                            "after-failover-{trial}-{attempt}"
                        ))))
                        .with_num_partitions(1)
                        .with_replication_factor(1),
                ]);
            let response: CreateTopicsResponse = conn.call(ApiKey::CreateTopics, 7, &request);
            if response.topics[0].error_code == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let took = killed.elapsed();
        println!("trial {trial}: {:>6} ms", took.as_millis());
        times.push(took.as_secs_f64() * 1000.0);
        cluster.restart(leader);
    }
    let min = times.iter().copied().fold(f64::MAX, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    println!(
        "failover: median {:.0} ms, min {min:.0} ms, max {max:.0} ms",
        median(times)
    );
}

fn main() {
    let o = options();
    topic_creation(&o);
    failover(&o);
}
