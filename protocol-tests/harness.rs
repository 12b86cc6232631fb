//! Test harness: a real `kafe` process on a free loopback port with its own data directory, and a
//! raw Kafka-protocol client over blocking TCP that encodes requests and decodes responses with
//! `kafka-protocol`, or sends any bytes at all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// A broker process; killed when dropped.
pub struct TestBroker {
    child: Option<Child>,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    overrides: Vec<String>,
}

impl TestBroker {
    /// Starts a broker on a port the system picks (so parallel tests never collide).
    pub fn start(overrides: &[&str]) -> TestBroker {
        let mut broker = Self::unstarted(overrides);
        broker.spawn();
        broker
    }

    fn unstarted(overrides: &[&str]) -> TestBroker {
        TestBroker {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: tempfile::tempdir().expect("temp dir"),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The command that runs the broker, its log going to a fresh `broker.log`.
    fn command(&self) -> Command {
        let log_path = self.dir.path().join("broker.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        // KAFE_BINARY runs another build instead (benchmarks compare builds side by side).
        let binary =
            std::env::var("KAFE_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kafe").to_string());
        let mut command = Command::new(binary);
        command
            .arg("--override")
            .arg(format!(
                "listeners=PLAINTEXT://127.0.0.1:{}",
                self.addr.port()
            ))
            .arg("--override")
            .arg(format!(
                "log.dirs={}",
                self.dir.path().join("data").display()
            ))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        for o in &self.overrides {
            command.arg("--override").arg(o);
        }
        command
    }

    /// Starts a broker whose process may hold at most `limit` open files (RLIMIT_NOFILE).
    pub fn start_with_open_file_limit(overrides: &[&str], limit: u64) -> TestBroker {
        let mut broker = Self::unstarted(overrides);
        let mut command = broker.command();
        // SAFETY: setrlimit is async-signal-safe and touches nothing of the parent's state.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        broker.child = Some(command.spawn().expect("spawn kafe"));
        broker.wait_listening();
        broker
    }

    /// Starts the process on `self.addr`'s port (0 the first time) and waits until it listens.
    fn spawn(&mut self) {
        self.child = Some(self.command().spawn().expect("spawn kafe"));
        self.wait_listening();
    }

    /// Waits until the process listens, reading the bound address from its log.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            let listening = log
                .lines()
                .filter(|l| l.contains("listening"))
                .find_map(|l| l.split("address=").nth(1));
            if let Some(address) = listening {
                self.addr = address
                    .trim()
                    .parse()
                    .expect("listening address in the log");
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("kafe exited with {status}; log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "kafe did not start listening; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Resident memory of the broker process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(status) = self.terminate() {
            assert!(
                status.success(),
                "kafe exited with {status}; log:\n{}",
                self.log()
            );
        }
    }

    /// SIGTERM and wait; returns how the process ended.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        Some(child.wait().expect("wait for kafe"))
    }

    /// SIGKILL: a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the broker first");
        self.spawn();
    }

    /// Starts the broker again, expecting it to refuse to start; returns its log.
    pub fn restart_expecting_refusal(&mut self) -> String {
        assert!(self.child.is_none(), "stop or kill the broker first");
        let status = self
            .command()
            .spawn()
            .expect("spawn kafe")
            .wait()
            .expect("wait for kafe");
        assert!(!status.success(), "kafe started; log:\n{}", self.log());
        self.log()
    }

    /// How many file descriptors the broker process has open.
    pub fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("proc fd")
            .count()
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr)
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.dir
            .path()
            .join("data")
            .join(format!("{topic}-{partition}"))
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A raw client connection.
pub struct Conn {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            next_correlation_id: 1,
        }
    }

    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("timeout");
    }

    /// Writes raw bytes; errors (the broker closed) are returned, not panicked on.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// A whole request frame: size, header for `key`/`version`, body.
    pub fn frame(&mut self, key: ApiKey, version: i16, body: &[u8]) -> (i32, Vec<u8>) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("protocol-tests")));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .expect("encode header");
        buf.put_slice(body);
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        (correlation_id, buf.to_vec())
    }

    /// Sends a request built from `body` and returns the correlation id.
    pub fn send(&mut self, key: ApiKey, version: i16, body: &[u8]) -> i32 {
        let (id, frame) = self.frame(key, version, body);
        self.send_raw(&frame).expect("send request");
        id
    }

    /// The next response frame, or `None` if the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let size = i32::from_be_bytes(size);
        assert!((0..1 << 30).contains(&size), "response size {size}");
        let mut buf = vec![0u8; size as usize];
        self.stream.read_exact(&mut buf).ok()?;
        Some(Bytes::from(buf))
    }

    /// Reads a response to `key`/`version` and checks its correlation id; returns the body.
    pub fn read_response(&mut self, key: ApiKey, version: i16, correlation_id: i32) -> Bytes {
        let mut frame = self
            .read_frame()
            .unwrap_or_else(|| panic!("connection closed awaiting {key:?} v{version}"));
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .expect("response header");
        assert_eq!(
            header.correlation_id, correlation_id,
            "{key:?} v{version}: correlation id"
        );
        frame
    }

    /// Sends `request` and decodes the response.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Resp {
        let mut body = BytesMut::new();
        request
            .encode(&mut body, version)
            .unwrap_or_else(|e| panic!("encode {key:?} v{version}: {e}"));
        let id = self.send(key, version, &body);
        let mut response = self.read_response(key, version, id);
        let decoded = Resp::decode(&mut response, version)
            .unwrap_or_else(|e| panic!("decode {key:?} v{version} response: {e}"));
        assert_eq!(
            response.remaining(),
            0,
            "{key:?} v{version}: response has trailing bytes"
        );
        decoded
    }

    /// Sends an ApiVersions request and waits (up to the read timeout) for any response frame:
    /// whether the broker is serving this connection.
    pub fn try_api_versions(&mut self) -> bool {
        let mut body = BytesMut::new();
        kafka_protocol::messages::ApiVersionsRequest::default()
            .encode(&mut body, 0)
            .expect("encode");
        let (_, frame) = self.frame(ApiKey::ApiVersions, 0, &body);
        if self.send_raw(&frame).is_err() {
            return false;
        }
        self.read_frame().is_some()
    }

    /// Whether the broker closed this connection (reads EOF within `wait`).
    pub fn is_closed_by_peer(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut byte = [0u8; 1];
        let closed = match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        closed
    }
}
