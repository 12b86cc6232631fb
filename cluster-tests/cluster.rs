//! A cluster of real `kafe` processes on loopback: every node is `broker,controller` with a client
//! listener and a controller listener on ports picked up front (the voters list names them), its
//! own data directory, and a log that survives restarts. Nodes are started, stopped (SIGTERM),
//! killed (SIGKILL) and restarted one by one.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::harness::Conn;
use crate::netns::Namespaces;

/// Timings short enough for tests: elections in about a second, a broker fenced two seconds
/// after its last heartbeat.
pub const FAST: &[&str] = &[
    "controller.quorum.election.timeout.ms=500",
    "broker.heartbeat.interval.ms=200",
    "broker.session.timeout.ms=2000",
];

/// A port free now, below the system's ephemeral range (so that no node's outgoing connection
/// takes it before the node it is meant for binds it), and not handed out before in this process.
fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let start = 20_000 + (std::process::id() as usize * 97) % 10_000;
    (0..12_000)
        .map(|k| (20_000 + (start - 20_000 + k) % 12_000) as u16)
        .find(|port| !handed_out.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .inspect(|port| handed_out.push(*port))
        .expect("a free port below the ephemeral range")
}

pub struct Node {
    pub id: i32,
    /// The address it listens on: loopback, or its own in a network namespace.
    pub host: String,
    /// Its network namespace, if it runs in one.
    netns: Option<String>,
    pub client_port: u16,
    pub controller_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    overrides: Vec<String>,
    /// A controller only: no client listener, not a broker.
    pub controller_only: bool,
    /// A broker only: not a voter, no controller listener (a learner of the quorum).
    pub broker_only: bool,
}

impl Node {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host.parse().expect("an IP address"), self.client_port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

pub struct TestCluster {
    pub nodes: Vec<Node>,
    voters: String,
    /// The namespaces the nodes run in, if they do (dropped after the nodes are killed).
    pub namespaces: Option<Namespaces>,
    _root: tempfile::TempDir,
}

impl TestCluster {
    /// A cluster of `size` nodes (ids 1..=size), none started; `overrides` apply to every node.
    pub fn new(size: usize, overrides: &[&str]) -> TestCluster {
        Self::build(size, overrides, None)
    }

    /// A cluster whose nodes each run in their own network namespace (see [`Namespaces`]), or
    /// why that cannot be done here.
    pub fn new_in_namespaces(size: usize, overrides: &[&str]) -> Result<TestCluster, String> {
        Ok(Self::build(
            size,
            overrides,
            Some(Namespaces::create(size)?),
        ))
    }

    fn build(size: usize, overrides: &[&str], namespaces: Option<Namespaces>) -> TestCluster {
        let root = tempfile::tempdir().expect("temp dir");
        let nodes: Vec<Node> = (1..=size)
            .map(|id| {
                let dir = root.path().join(format!("node{id}"));
                std::fs::create_dir_all(&dir).expect("node dir");
                let (host, netns, client_port, controller_port) = match &namespaces {
                    // Each namespace has its own ports.
                    Some(spaces) => (spaces.address(id), Some(spaces.name(id)), 9092, 9093),
                    None => ("127.0.0.1".to_string(), None, free_port(), free_port()),
                };
                Node {
                    id: id as i32,
                    host,
                    netns,
                    client_port,
                    controller_port,
                    dir,
                    child: None,
                    overrides: overrides.iter().map(|s| s.to_string()).collect(),
                    controller_only: false,
                    broker_only: false,
                }
            })
            .collect();
        let mut cluster = TestCluster {
            nodes,
            voters: String::new(),
            namespaces,
            _root: root,
        };
        cluster.list_voters();
        cluster
    }

    fn list_voters(&mut self) {
        self.voters = self
            .nodes
            .iter()
            .filter(|n| !n.broker_only)
            .map(|n| format!("{}@{}:{}", n.id, n.host, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
    }

    /// Makes node `i` a broker that is not a voter (before anything is started).
    pub fn make_broker_only(&mut self, i: usize) {
        self.nodes[i].broker_only = true;
        self.list_voters();
    }

    /// Starts `size` nodes in the order given (indexes into `nodes`) and waits until all serve.
    pub fn start(size: usize, overrides: &[&str], order: &[usize]) -> TestCluster {
        let mut cluster = TestCluster::new(size, overrides);
        for &i in order {
            cluster.spawn(i);
        }
        for &i in order {
            cluster.wait_serving(i);
        }
        cluster
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The command that runs node `i`, its log appended to `node.log`.
    pub fn command(&self, i: usize) -> Command {
        let node = &self.nodes[i];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("node.log"))
            .expect("log file");
        let binary = env!("CARGO_BIN_EXE_kafe");
        let mut command = match &node.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, binary]);
                c
            }
            None => Command::new(binary),
        };
        let host = &node.host;
        let roles_and_listeners = if node.controller_only {
            [
                "process.roles=controller".to_string(),
                format!("listeners=CONTROLLER://{host}:{}", node.controller_port),
            ]
        } else if node.broker_only {
            [
                "process.roles=broker".to_string(),
                format!("listeners=PLAINTEXT://{host}:{}", node.client_port),
            ]
        } else {
            [
                "process.roles=broker,controller".to_string(),
                format!(
                    "listeners=PLAINTEXT://{host}:{},CONTROLLER://{host}:{}",
                    node.client_port, node.controller_port
                ),
            ]
        };
        let mut settings = vec![format!("node.id={}", node.id)];
        settings.extend(roles_and_listeners);
        if !node.controller_only {
            settings.push(format!(
                "advertised.listeners=PLAINTEXT://{host}:{}",
                node.client_port
            ));
        }
        settings.extend([
            "controller.listener.names=CONTROLLER".to_string(),
            "inter.broker.listener.name=PLAINTEXT".to_string(),
            format!("controller.quorum.voters={}", self.voters),
            format!("log.dirs={}", node.data_dir().display()),
        ]);
        for s in settings.iter().chain(&node.overrides) {
            command.arg("--override").arg(s);
        }
        command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        command
    }

    /// Starts node `i` without waiting.
    pub fn spawn(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} is running");
        let child = self.command(i).spawn().expect("spawn kafe");
        self.nodes[i].child = Some(child);
    }

    /// Waits until node `i` serves clients (it has joined the cluster and been admitted).
    pub fn wait_serving(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let node = &mut self.nodes[i];
            // The client listener opens only once the controller has admitted the broker; a
            // controller only serves once it follows a quorum leader.
            let serving = if node.controller_only {
                let log = node.log();
                log.contains("listening listener=CONTROLLER")
                    && (log.contains("the metadata quorum has a leader")
                        || log.contains("this node leads the metadata quorum"))
            } else {
                std::net::TcpStream::connect(node.addr()).is_ok()
                    && Conn::connect(node.addr()).try_api_versions()
            };
            if serving {
                return;
            }
            let exited = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "node {} exited with {status}; log:\n{}\nthe other nodes:\n{}",
                    self.nodes[i].id,
                    self.nodes[i].log(),
                    self.other_logs(i)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "node {} does not serve; log:\n{}\nthe other nodes:\n{}",
                    self.nodes[i].id,
                    self.nodes[i].log(),
                    self.other_logs(i)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts node `i` again and waits until it serves.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_serving(i);
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let status = child.wait().expect("wait for kafe");
            assert!(
                status.success(),
                "node {} exited with {status}; log:\n{}",
                self.nodes[i].id,
                self.nodes[i].log()
            );
        }
    }

    /// Runs node `i` expecting it to refuse to start; returns its log.
    pub fn start_expecting_refusal(&mut self, i: usize, extra: &[&str]) -> String {
        let mut command = self.command(i);
        for e in extra {
            command.arg("--override").arg(e);
        }
        let mut child = command.spawn().expect("spawn kafe");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(
                    !status.success(),
                    "kafe exited cleanly; log:\n{}",
                    self.nodes[i].log()
                );
                return self.nodes[i].log();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kafe did not refuse to start; log:\n{}\nother nodes:\n{}",
                    self.nodes[i].log(),
                    self.other_logs(i)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every other node's log, for a failure message.
    pub fn other_logs(&self, i: usize) -> String {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| format!("== node {}\n{}", n.id, n.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Indexes of the nodes running now.
    pub fn running(&mut self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_running())
            .collect()
    }

    /// The running node that leads the metadata quorum, as DescribeQuorum through the running
    /// nodes says (waiting up to ten seconds for one to be elected).
    pub fn quorum_leader(&mut self) -> Option<usize> {
        use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
        let request = DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
                .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            for i in self.running() {
                if self.nodes[i].controller_only {
                    continue;
                }
                let Ok(stream) = std::net::TcpStream::connect(self.nodes[i].addr()) else {
                    continue;
                };
                drop(stream);
                let mut conn = Conn::connect(self.nodes[i].addr());
                conn.set_read_timeout(Duration::from_secs(5));
                let response: DescribeQuorumResponse =
                    conn.call(ApiKey::DescribeQuorum, 1, &request);
                let Some(p) = response.topics.first().and_then(|t| t.partitions.first()) else {
                    continue;
                };
                if response.error_code != 0 || p.leader_id.0 < 0 {
                    continue;
                }
                let leader = self.nodes.iter().position(|n| n.id == p.leader_id.0)?;
                if self.nodes[leader].is_running() {
                    return Some(leader);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn metadata(&self, i: usize) -> MetadataResponse {
        Conn::connect(self.nodes[i].addr()).call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
    }

    /// Creates a topic through node `i`; returns the error code.
    pub fn create_topic(&self, i: usize, name: &str, partitions: i32, rf: i16) -> i16 {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(20_000)
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.to_string())))
                    .with_num_partitions(partitions)
                    .with_replication_factor(rf),
            ]);
        let response: CreateTopicsResponse =
            Conn::connect(self.nodes[i].addr()).call(ApiKey::CreateTopics, 7, &request);
        response.topics[0].error_code
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9(i);
        }
        // The namespaces go after the processes in them.
        self.namespaces.take();
    }
}

/// Polls `condition` until it holds; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if condition() {
            return started.elapsed();
        }
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads `meta.properties` of a data directory as key/value pairs.
pub fn meta_properties(dir: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(dir.join("meta.properties"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
