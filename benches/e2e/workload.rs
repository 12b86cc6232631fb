//! The two workloads, built on librdkafka through the `rdkafka` crate: producing N records of S
//! bytes (as fast as possible, or open-loop at a fixed rate for latency), and consuming a topic back
//! from the beginning. Each reports records/s, MB/s and, for produce, delivery latency percentiles
//! from an HDR histogram; the broker (and this process) are sampled for CPU and memory meanwhile.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::sampler::{Sampler, Usage, cpu_seconds};

/// What to produce and how.
#[derive(Debug, Clone, clap::Args)]
pub struct ProduceOptions {
    /// Records to produce.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Partitions of the (new) topic.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// 0, 1 or all.
    #[arg(long, default_value = "1")]
    pub acks: String,
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u32,
    /// librdkafka batch.num.messages.
    #[arg(long, default_value_t = 10_000)]
    pub batch_messages: u32,
    /// librdkafka batch.size in bytes.
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_bytes: u32,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// Give each record a distinct key.
    #[arg(long)]
    pub keys: bool,
    /// Producer instances, each in its own thread, sharing the records.
    #[arg(long, default_value_t = 1)]
    pub producers: u32,
    /// Records per second, open-loop (latency is measured from each record's scheduled time);
    /// 0 produces as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Extra librdkafka properties, KEY=VALUE (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    pub extra: Vec<String>,
}

/// A finished run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub records: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub latency_us: Option<(u64, u64, u64)>,
    /// Time before the first record arrived (consume), not counted in `seconds`.
    pub startup_seconds: Option<f64>,
    pub broker: Option<Usage>,
    pub client_cpu_seconds: f64,
    /// Produce (or Fetch) requests the client sent, from librdkafka's statistics.
    pub requests: u64,
}

impl Report {
    pub fn records_per_second(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    pub fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }

    /// Broker CPU seconds per GB moved.
    pub fn broker_cpu_per_gb(&self) -> Option<f64> {
        self.broker
            .map(|u| u.cpu_seconds / (self.bytes as f64 / 1e9))
    }

    /// Broker system calls per Produce (or Fetch) request, where they were counted.
    pub fn broker_syscalls_per_request(&self) -> Option<f64> {
        let syscalls = self.broker?.syscalls?;
        (self.requests > 0).then(|| syscalls as f64 / self.requests as f64)
    }

    pub fn line(&self, what: &str) -> String {
        let mut s = format!(
            "{what}: {} records in {:.2}s: {:.0} records/s, {:.1} MB/s; client CPU {:.2}s",
            self.records,
            self.seconds,
            self.records_per_second(),
            self.mb_per_second(),
            self.client_cpu_seconds
        );
        if let Some(startup) = self.startup_seconds {
            s += &format!(" (timed from the first record, {startup:.2}s after the start)");
        }
        if let Some((p50, p99, p999)) = self.latency_us {
            s += &format!("; latency p50 {p50} us, p99 {p99} us, p99.9 {p999} us");
        }
        if let (Some(u), Some(per_gb)) = (self.broker, self.broker_cpu_per_gb()) {
            s += &format!(
                "; broker CPU {:.2}s ({per_gb:.2} s/GB), peak RSS {:.1} MB",
                u.cpu_seconds,
                u.peak_rss_kib as f64 / 1024.0
            );
        }
        if let Some(per_request) = self.broker_syscalls_per_request() {
            s += &format!(
                ", {per_request:.1} syscalls per request ({} requests)",
                self.requests
            );
        }
        s
    }
}

/// How often librdkafka reports its statistics (where the request counts come from).
const STATISTICS_INTERVAL_MS: u64 = 100;

/// Waits long enough for librdkafka to report statistics once more after a run, so the request
/// counts include the last requests.
fn await_final_statistics() {
    std::thread::sleep(Duration::from_millis(STATISTICS_INTERVAL_MS * 3));
}

/// Keeps the latest count of one kind of request ("Produce", "Fetch") sent to all brokers, from
/// librdkafka's statistics.
struct RequestCount {
    kind: &'static str,
    sent: AtomicU64,
}

impl RequestCount {
    fn new(kind: &'static str) -> RequestCount {
        RequestCount {
            kind,
            sent: AtomicU64::new(0),
        }
    }

    fn record(&self, statistics: &Statistics) {
        let sent: i64 = statistics
            .brokers
            .values()
            .filter_map(|b| b.req.get(self.kind))
            .sum();
        self.sent
            .store(u64::try_from(sent).unwrap_or(0), Ordering::Relaxed);
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

impl ClientContext for RequestCount {
    fn stats(&self, statistics: Statistics) {
        self.record(&statistics);
    }
}

impl ConsumerContext for RequestCount {}

fn config(bootstrap: &str, extra: &[String]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("log_level", "3")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string());
    for kv in extra {
        if let Some((k, v)) = kv.split_once('=') {
            c.set(k, v);
        }
    }
    c
}

pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> =
        config(bootstrap, &[]).create().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .map_err(|e| e.to_string())?;
    match result.first() {
        Some(Ok(_)) | Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(()),
        Some(Err((_, code))) => Err(format!("creating {topic}: {code}")),
        None => Err("no create result".into()),
    }
}

/// Deletes a topic (best effort): a finished run's data should not weigh on the next one through
/// the page cache's dirty-page write-back.
pub fn delete_topic(bootstrap: &str, topic: &str) {
    let Ok(admin) = config(bootstrap, &[]).create::<AdminClient<DefaultClientContext>>() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let _ = runtime.block_on(admin.delete_topics(&[topic], &AdminOptions::new()));
}

/// Records delivery latency: the opaque of each record is its scheduled send time in ns since the
/// start of the run.
struct Latency {
    start: Instant,
    histogram: Mutex<Histogram<u64>>,
    errors: Mutex<u64>,
    requests: RequestCount,
}

impl ClientContext for Latency {
    fn stats(&self, statistics: Statistics) {
        self.requests.record(&statistics);
    }
}

impl ProducerContext for Latency {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, scheduled_ns: usize) {
        if result.is_err() {
            *self.errors.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            return;
        }
        let now = self.start.elapsed().as_nanos() as u64;
        let micros = now.saturating_sub(scheduled_ns as u64) / 1_000;
        let _ = self
            .histogram
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(micros.max(1));
    }
}

fn progress(label: &str, done: u64, total: u64, started: Instant, last: &mut Instant) {
    if last.elapsed() >= Duration::from_secs(1) {
        *last = Instant::now();
        let rate = done as f64 / started.elapsed().as_secs_f64();
        eprint!("\r{label}: {done}/{total} records, {rate:.0}/s   ");
    }
}

pub fn produce(
    bootstrap: &str,
    topic: &str,
    o: &ProduceOptions,
    broker_pid: Option<u32>,
) -> Result<Report, String> {
    let sampler = broker_pid.map(Sampler::start);
    let client_cpu = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let started = Instant::now();
    let producers = u64::from(o.producers.max(1));
    let producers: Vec<Result<ThreadedProducer<Latency>, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..producers)
            .map(|p| {
                let share = o.records / producers + u64::from(p < o.records % producers);
                scope.spawn(move || produce_share(bootstrap, topic, o, share, p == 0, started))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("producer thread panicked".into()))
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let broker = sampler.map(Sampler::finish);
    eprint!("\r");
    let producers = producers.into_iter().collect::<Result<Vec<_>, _>>()?;
    await_final_statistics();
    let mut histogram = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    for producer in &producers {
        let h = producer
            .context()
            .histogram
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        histogram.add(&*h).map_err(|e| e.to_string())?;
    }
    Ok(Report {
        records: o.records,
        bytes: o.records * o.size as u64,
        seconds,
        latency_us: Some((
            histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.99),
            histogram.value_at_quantile(0.999),
        )),
        startup_seconds: None,
        broker,
        client_cpu_seconds: cpu_seconds(std::process::id()).unwrap_or(0.0) - client_cpu,
        requests: producers.iter().map(|p| p.context().requests.sent()).sum(),
    })
}

/// Makes this thread's sleeps end on time: Linux lets a sleep overrun by the thread's timer slack
/// (50 us by default), which would show up as latency in an open-loop run.
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// One producer's part of the run: `records` records (at `rate / producers` each when rate-limited).
/// Returns the producer, all records delivered, for its latencies and request count.
fn produce_share(
    bootstrap: &str,
    topic: &str,
    o: &ProduceOptions,
    records: u64,
    report_progress: bool,
    started: Instant,
) -> Result<ThreadedProducer<Latency>, String> {
    let context = Latency {
        start: started,
        histogram: Mutex::new(Histogram::new(3).map_err(|e| e.to_string())?),
        errors: Mutex::new(0),
        requests: RequestCount::new("Produce"),
    };
    let mut c = config(bootstrap, &[]);
    c.set("acks", &o.acks)
        .set("linger.ms", o.linger_ms.to_string())
        .set("batch.num.messages", o.batch_messages.to_string())
        .set("batch.size", o.batch_bytes.to_string())
        .set("compression.type", &o.compression)
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    for kv in &o.extra {
        if let Some((k, v)) = kv.split_once('=') {
            c.set(k, v);
        }
    }
    // Delivery reports are served by the producer's own polling thread, so they are timed when
    // they arrive, not when this thread gets round to them.
    let producer: ThreadedProducer<Latency> =
        c.create_with_context(context).map_err(|e| e.to_string())?;
    let value = vec![b'x'; o.size];
    let rate = o.rate / u64::from(o.producers.max(1));
    if rate > 0 {
        precise_sleeps();
    }
    let mut last = Instant::now();
    for i in 0..records {
        let scheduled = match (i * 1_000_000_000).checked_div(rate) {
            Some(nanos) => {
                let at = Duration::from_nanos(nanos);
                // Sleep until the record is due (precise sleeps: see `precise_sleeps`), spinning
                // only for the last few microseconds.
                while let Some(remaining) = at.checked_sub(started.elapsed()) {
                    if remaining > Duration::from_micros(20) {
                        std::thread::sleep(remaining - Duration::from_micros(10));
                    } else {
                        std::hint::spin_loop();
                    }
                }
                at.as_nanos() as usize
            }
            None => started.elapsed().as_nanos() as usize,
        };
        let key = if o.keys { i.to_string() } else { String::new() };
        let mut record =
            BaseRecord::<str, [u8], usize>::with_opaque_to(topic, scheduled).payload(&value);
        if o.keys {
            record = record.key(key.as_str());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(format!("produce failed: {e}")),
            }
        }
        if report_progress && i % 1024 == 0 {
            progress("produce", i, records, started, &mut last);
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|e| format!("flush: {e}"))?;
    let errors = *producer
        .context()
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if errors > 0 {
        return Err(format!("{errors} records failed"));
    }
    Ok(producer)
}

/// Consumes `records` records of `topic` (all `partitions`) from the beginning.
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
    extra: &[String],
    broker_pid: Option<u32>,
) -> Result<Report, String> {
    let mut c = config(bootstrap, extra);
    c.set("group.id", "kafe-e2e")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.max.messages.kbytes", "1048576")
        // librdkafka pauses fetching for fetch.queue.backoff.ms (1 s) whenever its local queue
        // holds queued.min.messages; with one big fetch that is every fetch. Keep it fetching.
        .set("queued.min.messages", "10000000")
        .set("fetch.queue.backoff.ms", "10");
    for kv in extra {
        if let Some((k, v)) = kv.split_once('=') {
            c.set(k, v);
        }
    }
    let consumer: BaseConsumer<RequestCount> = c
        .create_with_context(RequestCount::new("Fetch"))
        .map_err(|e| e.to_string())?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let sampler = broker_pid.map(Sampler::start);
    let client_cpu = cpu_seconds(std::process::id()).unwrap_or(0.0);
    let started = Instant::now();
    let (count, bytes, first) = drain(&consumer, records, started)?;
    // Throughput counts from the first record: what comes before (connecting, metadata, finding the
    // start offset) is a fixed cost that would otherwise dominate short runs.
    let seconds = first.elapsed().as_secs_f64();
    // Stop fetching before the broker's counters stop, so the request count matches them.
    consumer.pause(&assignment).map_err(|e| e.to_string())?;
    let broker = sampler.map(Sampler::finish);
    eprint!("\r");
    // The statistics arrive as events on the consumer's queue, served by polling it.
    let deadline = Instant::now() + Duration::from_millis(STATISTICS_INTERVAL_MS * 3);
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(STATISTICS_INTERVAL_MS / 2));
    }
    Ok(Report {
        records: count,
        bytes,
        seconds,
        startup_seconds: Some((first - started).as_secs_f64()),
        latency_us: None,
        broker,
        client_cpu_seconds: cpu_seconds(std::process::id()).unwrap_or(0.0) - client_cpu,
        requests: consumer.context().sent(),
    })
}

/// Takes `records` records off the consumer's queue in batches (librdkafka's batch API: a few
/// hundred nanoseconds per record instead of a call per record, so the client is less of a limit).
/// Returns the records and value bytes seen and when the first record arrived.
fn drain(
    consumer: &BaseConsumer<RequestCount>,
    records: u64,
    started: Instant,
) -> Result<(u64, u64, Instant), String> {
    use rdkafka_sys::bindings::{
        rd_kafka_consume_batch_queue, rd_kafka_message_destroy, rd_kafka_message_t,
        rd_kafka_queue_destroy, rd_kafka_queue_get_consumer,
    };
    use rdkafka_sys::types::RDKafkaRespErr;

    // SAFETY: the client pointer lives as long as `consumer`, which outlives this function; the
    // queue handle is released below.
    let queue = unsafe { rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
    if queue.is_null() {
        return Err("no consumer queue".into());
    }
    let mut batch: Vec<*mut rd_kafka_message_t> = vec![std::ptr::null_mut(); 16_384];
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut last = Instant::now();
    let mut failure = None;
    let mut idle_since = Instant::now();
    let mut first = None;
    while count < records && failure.is_none() {
        // A short wait: the call returns early only once the batch is full, so a long one would
        // idle at the end of every burst.
        // SAFETY: `batch` has room for `batch.len()` message pointers.
        let n = unsafe { rd_kafka_consume_batch_queue(queue, 1, batch.as_mut_ptr(), batch.len()) };
        if n <= 0 {
            if idle_since.elapsed() > Duration::from_secs(10) {
                failure = Some(format!("no records for 10 s after {count} of {records}"));
            }
            continue;
        }
        idle_since = Instant::now();
        first.get_or_insert(idle_since);
        for &message in &batch[..n as usize] {
            // SAFETY: librdkafka returned `n` valid messages, each destroyed exactly once here.
            unsafe {
                let m = &*message;
                if m.err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                    count += 1;
                    bytes += m.len as u64;
                } else if m.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__PARTITION_EOF
                    && failure.is_none()
                {
                    failure = Some(format!("consume failed: error {:?}", m.err));
                }
                rd_kafka_message_destroy(message);
            }
        }
        progress("consume", count, records, started, &mut last);
    }
    // SAFETY: the handle came from rd_kafka_queue_get_consumer above.
    unsafe { rd_kafka_queue_destroy(queue) };
    failure.map_or(Ok((count, bytes, first.unwrap_or(started))), Err)
}
