//! Every configuration key kafe knows, each declared exactly once: its Kafka name, type, Kafka's
//! default and what kafe does with it. Broker keys are the constants below; a topic-level key names
//! the broker keys that supply its default ([`TopicKey::synonyms`]), so no default is written twice.

/// A configuration value's type, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// Whether kafe acts on a key. Unused keys are accepted (so a pasted `server.properties` starts)
/// and reported as they are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Used,
    Accepted,
}

/// One broker-level key.
#[derive(Debug, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// Kafka's default, as text; `None` is null.
    pub default: Option<&'static str>,
    pub used: Use,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    used: Use,
    doc: &'static str,
) -> Key {
    Key {
        name,
        kind,
        default,
        used,
        doc,
    }
}

use Kind::{Boolean, Double, Int, List, Long, Short, String};
use Use::{Accepted, Used};

const LONG_MAX: Option<&str> = Some("9223372036854775807");

pub const NODE_ID: Key = key("node.id", Int, Some("0"), Used, "The id of this node.");
pub const BROKER_ID: Key = key(
    "broker.id",
    Int,
    Some("-1"),
    Used,
    "Alias of node.id kept for old configurations.",
);
pub const PROCESS_ROLES: Key = key(
    "process.roles",
    List,
    None,
    Used,
    "Roles of this node in a cluster: broker, controller, or both. Needed with \
     controller.quorum.voters; without them the node is a single broker (a quorum of one).",
);
pub const LISTENERS: Key = key(
    "listeners",
    String,
    Some("PLAINTEXT://127.0.0.1:9092"),
    Used,
    "Addresses to listen on.",
);
pub const ADVERTISED_LISTENERS: Key = key(
    "advertised.listeners",
    String,
    None,
    Used,
    "Addresses given to clients; defaults to listeners.",
);
pub const LOG_DIRS: Key = key(
    "log.dirs",
    String,
    None,
    Used,
    "Comma-separated directories that hold partition logs; defaults to log.dir.",
);
pub const LOG_DIR: Key = key(
    "log.dir",
    String,
    Some("./data"),
    Used,
    "The log directory, used when log.dirs is not set.",
);
pub const METADATA_LOG_DIR: Key = key(
    "metadata.log.dir",
    String,
    None,
    Used,
    "Directory of the cluster metadata log; defaults to the first log directory.",
);
pub const NUM_PARTITIONS: Key = key(
    "num.partitions",
    Int,
    Some("1"),
    Used,
    "Default partition count of new topics.",
);
pub const DEFAULT_REPLICATION_FACTOR: Key = key(
    "default.replication.factor",
    Int,
    Some("1"),
    Used,
    "Default replication factor of new topics.",
);
pub const AUTO_CREATE_TOPICS_ENABLE: Key = key(
    "auto.create.topics.enable",
    Boolean,
    Some("true"),
    Used,
    "Create topics on first metadata request.",
);
pub const DELETE_TOPIC_ENABLE: Key = key(
    "delete.topic.enable",
    Boolean,
    Some("true"),
    Used,
    "Allow DeleteTopics.",
);
pub const SOCKET_REQUEST_MAX_BYTES: Key = key(
    "socket.request.max.bytes",
    Int,
    Some("104857600"),
    Used,
    "Largest request accepted.",
);
pub const MAX_CONNECTIONS: Key = key(
    "max.connections",
    Int,
    Some("10000"),
    Used,
    "Most client connections at once.",
);
pub const MESSAGE_MAX_BYTES: Key = key(
    "message.max.bytes",
    Int,
    Some("1048588"),
    Used,
    "Largest record batch accepted.",
);
pub const COMPRESSION_TYPE: Key = key(
    "compression.type",
    String,
    Some("producer"),
    Accepted,
    "Batches are stored as produced.",
);
pub const LOG_SEGMENT_BYTES: Key = key(
    "log.segment.bytes",
    Int,
    Some("1073741824"),
    Used,
    "Segment file size.",
);
pub const LOG_ROLL_MS: Key = key(
    "log.roll.ms",
    Long,
    None,
    Used,
    "Roll a segment after this long.",
);
pub const LOG_ROLL_HOURS: Key = key(
    "log.roll.hours",
    Int,
    Some("168"),
    Used,
    "Roll a segment after this long.",
);
pub const LOG_ROLL_JITTER_MS: Key = key("log.roll.jitter.ms", Long, None, Accepted, "Roll jitter.");
pub const LOG_ROLL_JITTER_HOURS: Key = key(
    "log.roll.jitter.hours",
    Int,
    Some("0"),
    Accepted,
    "Roll jitter.",
);
pub const LOG_RETENTION_MS: Key = key(
    "log.retention.ms",
    Long,
    None,
    Used,
    "Delete segments older than this; -1 keeps them.",
);
pub const LOG_RETENTION_MINUTES: Key = key(
    "log.retention.minutes",
    Int,
    None,
    Used,
    "As log.retention.ms, in minutes.",
);
pub const LOG_RETENTION_HOURS: Key = key(
    "log.retention.hours",
    Int,
    Some("168"),
    Used,
    "As log.retention.ms, in hours.",
);
pub const LOG_RETENTION_BYTES: Key = key(
    "log.retention.bytes",
    Long,
    Some("-1"),
    Used,
    "Largest log size per partition; -1 unlimited.",
);
pub const LOG_RETENTION_CHECK_INTERVAL_MS: Key = key(
    "log.retention.check.interval.ms",
    Long,
    Some("300000"),
    Used,
    "How often retention runs.",
);
pub const LOG_INDEX_SIZE_MAX_BYTES: Key = key(
    "log.index.size.max.bytes",
    Int,
    Some("10485760"),
    Used,
    "Largest size of each index file (allocated as it fills).",
);
pub const LOG_INDEX_INTERVAL_BYTES: Key = key(
    "log.index.interval.bytes",
    Int,
    Some("4096"),
    Used,
    "Bytes between offset index entries.",
);
pub const LOG_MESSAGE_TIMESTAMP_TYPE: Key = key(
    "log.message.timestamp.type",
    String,
    Some("CreateTime"),
    Used,
    "CreateTime or LogAppendTime.",
);
pub const LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS: Key = key(
    "log.message.timestamp.before.max.ms",
    Long,
    LONG_MAX,
    Accepted,
    "Allowed past skew.",
);
pub const LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS: Key = key(
    "log.message.timestamp.after.max.ms",
    Long,
    LONG_MAX,
    Accepted,
    "Allowed future skew.",
);
pub const LOG_FLUSH_OFFSET_CHECKPOINT_INTERVAL_MS: Key = key(
    "log.flush.offset.checkpoint.interval.ms",
    Int,
    Some("60000"),
    Used,
    "How often recovery points are saved.",
);
pub const LOG_FLUSH_INTERVAL_MESSAGES: Key = key(
    "log.flush.interval.messages",
    Long,
    LONG_MAX,
    Accepted,
    "Not used: acks=all fsyncs.",
);
pub const LOG_FLUSH_INTERVAL_MS: Key = key(
    "log.flush.interval.ms",
    Long,
    None,
    Accepted,
    "Not used: acks=all fsyncs.",
);
pub const LOG_FLUSH_SCHEDULER_INTERVAL_MS: Key = key(
    "log.flush.scheduler.interval.ms",
    Long,
    LONG_MAX,
    Accepted,
    "Not used: acks=all fsyncs.",
);
pub const LOG_SEGMENT_DELETE_DELAY_MS: Key = key(
    "log.segment.delete.delay.ms",
    Long,
    Some("60000"),
    Accepted,
    "Delay before deleting a file.",
);
pub const LOG_PREALLOCATE: Key = key(
    "log.preallocate",
    Boolean,
    Some("false"),
    Accepted,
    "Preallocate segment files.",
);
pub const LOG_CLEANUP_POLICY: Key = key(
    "log.cleanup.policy",
    List,
    Some("delete"),
    Used,
    "delete, or compact to keep data (compaction itself is not implemented).",
);
pub const LOG_CLEANER_DELETE_RETENTION_MS: Key = key(
    "log.cleaner.delete.retention.ms",
    Long,
    Some("86400000"),
    Accepted,
    "Tombstone retention for compacted topics.",
);
pub const LOG_CLEANER_MIN_CLEANABLE_RATIO: Key = key(
    "log.cleaner.min.cleanable.ratio",
    Double,
    Some("0.5"),
    Accepted,
    "Compaction trigger.",
);
pub const LOG_CLEANER_MIN_COMPACTION_LAG_MS: Key = key(
    "log.cleaner.min.compaction.lag.ms",
    Long,
    Some("0"),
    Accepted,
    "Compaction lag.",
);
pub const LOG_CLEANER_MAX_COMPACTION_LAG_MS: Key = key(
    "log.cleaner.max.compaction.lag.ms",
    Long,
    LONG_MAX,
    Accepted,
    "Compaction lag bound.",
);
pub const MIN_INSYNC_REPLICAS: Key = key(
    "min.insync.replicas",
    Int,
    Some("1"),
    Used,
    "Replicas that must acknowledge acks=all.",
);
pub const UNCLEAN_LEADER_ELECTION_ENABLE: Key = key(
    "unclean.leader.election.enable",
    Boolean,
    Some("false"),
    Accepted,
    "Allow out-of-sync leaders.",
);
pub const PRODUCER_ID_EXPIRATION_MS: Key = key(
    "producer.id.expiration.ms",
    Int,
    Some("86400000"),
    Used,
    "Idempotent-producer state is forgotten after this long without a write.",
);
pub const PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS: Key = key(
    "producer.id.expiration.check.interval.ms",
    Int,
    Some("600000"),
    Used,
    "How often idle producers are expired.",
);
pub const OFFSETS_TOPIC_NUM_PARTITIONS: Key = key(
    "offsets.topic.num.partitions",
    Int,
    Some("50"),
    Used,
    "Partitions of __consumer_offsets.",
);
pub const OFFSETS_TOPIC_REPLICATION_FACTOR: Key = key(
    "offsets.topic.replication.factor",
    Short,
    Some("3"),
    Used,
    "Replication of __consumer_offsets.",
);
pub const OFFSETS_TOPIC_SEGMENT_BYTES: Key = key(
    "offsets.topic.segment.bytes",
    Int,
    Some("104857600"),
    Used,
    "Segment size of __consumer_offsets.",
);
pub const OFFSETS_RETENTION_MINUTES: Key = key(
    "offsets.retention.minutes",
    Int,
    Some("10080"),
    Used,
    "Committed offsets expiry.",
);
pub const OFFSETS_RETENTION_CHECK_INTERVAL_MS: Key = key(
    "offsets.retention.check.interval.ms",
    Long,
    Some("600000"),
    Used,
    "How often expired offsets are removed.",
);
pub const OFFSET_METADATA_MAX_BYTES: Key = key(
    "offset.metadata.max.bytes",
    Int,
    Some("4096"),
    Used,
    "Largest metadata string of a committed offset.",
);
pub const GROUP_INITIAL_REBALANCE_DELAY_MS: Key = key(
    "group.initial.rebalance.delay.ms",
    Int,
    Some("3000"),
    Used,
    "Delay of a new group's first rebalance.",
);
pub const GROUP_MIN_SESSION_TIMEOUT_MS: Key = key(
    "group.min.session.timeout.ms",
    Int,
    Some("6000"),
    Used,
    "Smallest session timeout allowed.",
);
pub const GROUP_MAX_SESSION_TIMEOUT_MS: Key = key(
    "group.max.session.timeout.ms",
    Int,
    Some("1800000"),
    Used,
    "Largest session timeout allowed.",
);
pub const NUM_NETWORK_THREADS: Key = key(
    "num.network.threads",
    Int,
    Some("3"),
    Accepted,
    "Not used: one async runtime serves all.",
);
pub const NUM_IO_THREADS: Key = key(
    "num.io.threads",
    Int,
    Some("8"),
    Accepted,
    "Not used: one async runtime serves all.",
);
pub const NUM_RECOVERY_THREADS_PER_DATA_DIR: Key = key(
    "num.recovery.threads.per.data.dir",
    Int,
    Some("1"),
    Accepted,
    "Not used.",
);
pub const SOCKET_SEND_BUFFER_BYTES: Key = key(
    "socket.send.buffer.bytes",
    Int,
    Some("102400"),
    Accepted,
    "Not used.",
);
pub const SOCKET_RECEIVE_BUFFER_BYTES: Key = key(
    "socket.receive.buffer.bytes",
    Int,
    Some("102400"),
    Accepted,
    "Not used.",
);
pub const TRANSACTION_STATE_LOG_REPLICATION_FACTOR: Key = key(
    "transaction.state.log.replication.factor",
    Short,
    Some("3"),
    Accepted,
    "Not used.",
);
pub const TRANSACTION_STATE_LOG_MIN_ISR: Key = key(
    "transaction.state.log.min.isr",
    Int,
    Some("2"),
    Accepted,
    "Not used.",
);
pub const CONTROLLER_QUORUM_VOTERS: Key = key(
    "controller.quorum.voters",
    List,
    Some(""),
    Used,
    "The metadata quorum's voters, id@host:port each (the controller listener).",
);
pub const CONTROLLER_QUORUM_BOOTSTRAP_SERVERS: Key = key(
    "controller.quorum.bootstrap.servers",
    List,
    Some(""),
    Used,
    "A dynamic quorum's bootstrap servers (KIP-853); not served yet: use controller.quorum.voters.",
);
pub const CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS: Key = key(
    "controller.quorum.election.timeout.ms",
    Int,
    Some("1000"),
    Used,
    "How long a voter waits for the leader before it stands for election.",
);
pub const CONTROLLER_QUORUM_FETCH_TIMEOUT_MS: Key = key(
    "controller.quorum.fetch.timeout.ms",
    Int,
    Some("2000"),
    Accepted,
    "How long a follower waits for the leader (the election timeout governs kafe's quorum).",
);
pub const CONTROLLER_QUORUM_REQUEST_TIMEOUT_MS: Key = key(
    "controller.quorum.request.timeout.ms",
    Int,
    Some("2000"),
    Used,
    "How long a quorum request to another node may take.",
);
pub const CONTROLLER_LISTENER_NAMES: Key = key(
    "controller.listener.names",
    List,
    None,
    Used,
    "Listeners the controller serves (on a controller), or reaches controllers by (on a broker).",
);
pub const LISTENER_SECURITY_PROTOCOL_MAP: Key = key(
    "listener.security.protocol.map",
    String,
    Some(
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,\
         CONTROLLER:PLAINTEXT",
    ),
    Used,
    "Security protocol of each listener name (only PLAINTEXT is served yet).",
);
pub const INTER_BROKER_LISTENER_NAME: Key = key(
    "inter.broker.listener.name",
    String,
    None,
    Used,
    "The listener brokers reach each other by (default: the first non-controller listener).",
);
pub const BROKER_HEARTBEAT_INTERVAL_MS: Key = key(
    "broker.heartbeat.interval.ms",
    Int,
    Some("2000"),
    Used,
    "How often a broker heartbeats to the active controller.",
);
pub const BROKER_SESSION_TIMEOUT_MS: Key = key(
    "broker.session.timeout.ms",
    Int,
    Some("9000"),
    Used,
    "A broker without a heartbeat this long is fenced.",
);
pub const BROKER_RACK: Key = key(
    "broker.rack",
    String,
    None,
    Used,
    "The broker's rack, for rack-aware replica placement.",
);
pub const AUTO_LEADER_REBALANCE_ENABLE: Key = key(
    "auto.leader.rebalance.enable",
    Boolean,
    Some("true"),
    Used,
    "Move leadership back to preferred replicas.",
);
pub const LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS: Key = key(
    "leader.imbalance.check.interval.seconds",
    Long,
    Some("300"),
    Used,
    "How often preferred leaders are checked.",
);
pub const ZOOKEEPER_CONNECT: Key = key("zookeeper.connect", String, None, Accepted, "Not used.");

/// Every broker-level key, in the order DescribeConfigs lists them.
pub static BROKER_KEYS: &[&Key] = &[
    &NODE_ID,
    &BROKER_ID,
    &PROCESS_ROLES,
    &LISTENERS,
    &ADVERTISED_LISTENERS,
    &LOG_DIRS,
    &LOG_DIR,
    &METADATA_LOG_DIR,
    &NUM_PARTITIONS,
    &DEFAULT_REPLICATION_FACTOR,
    &AUTO_CREATE_TOPICS_ENABLE,
    &DELETE_TOPIC_ENABLE,
    &SOCKET_REQUEST_MAX_BYTES,
    &MAX_CONNECTIONS,
    &MESSAGE_MAX_BYTES,
    &COMPRESSION_TYPE,
    &LOG_SEGMENT_BYTES,
    &LOG_ROLL_MS,
    &LOG_ROLL_HOURS,
    &LOG_ROLL_JITTER_MS,
    &LOG_ROLL_JITTER_HOURS,
    &LOG_RETENTION_MS,
    &LOG_RETENTION_MINUTES,
    &LOG_RETENTION_HOURS,
    &LOG_RETENTION_BYTES,
    &LOG_RETENTION_CHECK_INTERVAL_MS,
    &LOG_INDEX_SIZE_MAX_BYTES,
    &LOG_INDEX_INTERVAL_BYTES,
    &LOG_MESSAGE_TIMESTAMP_TYPE,
    &LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
    &LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS,
    &LOG_FLUSH_OFFSET_CHECKPOINT_INTERVAL_MS,
    &LOG_FLUSH_INTERVAL_MESSAGES,
    &LOG_FLUSH_INTERVAL_MS,
    &LOG_FLUSH_SCHEDULER_INTERVAL_MS,
    &LOG_SEGMENT_DELETE_DELAY_MS,
    &LOG_PREALLOCATE,
    &LOG_CLEANUP_POLICY,
    &LOG_CLEANER_DELETE_RETENTION_MS,
    &LOG_CLEANER_MIN_CLEANABLE_RATIO,
    &LOG_CLEANER_MIN_COMPACTION_LAG_MS,
    &LOG_CLEANER_MAX_COMPACTION_LAG_MS,
    &MIN_INSYNC_REPLICAS,
    &UNCLEAN_LEADER_ELECTION_ENABLE,
    &PRODUCER_ID_EXPIRATION_MS,
    &PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
    &OFFSETS_TOPIC_NUM_PARTITIONS,
    &OFFSETS_TOPIC_REPLICATION_FACTOR,
    &OFFSETS_TOPIC_SEGMENT_BYTES,
    &OFFSETS_RETENTION_MINUTES,
    &OFFSETS_RETENTION_CHECK_INTERVAL_MS,
    &OFFSET_METADATA_MAX_BYTES,
    &GROUP_INITIAL_REBALANCE_DELAY_MS,
    &GROUP_MIN_SESSION_TIMEOUT_MS,
    &GROUP_MAX_SESSION_TIMEOUT_MS,
    &NUM_NETWORK_THREADS,
    &NUM_IO_THREADS,
    &NUM_RECOVERY_THREADS_PER_DATA_DIR,
    &SOCKET_SEND_BUFFER_BYTES,
    &SOCKET_RECEIVE_BUFFER_BYTES,
    &TRANSACTION_STATE_LOG_REPLICATION_FACTOR,
    &TRANSACTION_STATE_LOG_MIN_ISR,
    &CONTROLLER_QUORUM_VOTERS,
    &CONTROLLER_QUORUM_BOOTSTRAP_SERVERS,
    &CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS,
    &CONTROLLER_QUORUM_FETCH_TIMEOUT_MS,
    &CONTROLLER_QUORUM_REQUEST_TIMEOUT_MS,
    &CONTROLLER_LISTENER_NAMES,
    &LISTENER_SECURITY_PROTOCOL_MAP,
    &INTER_BROKER_LISTENER_NAME,
    &BROKER_HEARTBEAT_INTERVAL_MS,
    &BROKER_SESSION_TIMEOUT_MS,
    &BROKER_RACK,
    &AUTO_LEADER_REBALANCE_ENABLE,
    &LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS,
    &ZOOKEEPER_CONNECT,
];

/// A broker key that supplies a topic key's default, and how many milliseconds one of its units is
/// (1 for keys in the topic key's own unit; `log.retention.hours` is 3,600,000).
#[derive(Debug)]
pub struct Synonym {
    pub key: &'static Key,
    pub unit: i64,
}

const fn same(key: &'static Key) -> Synonym {
    Synonym { key, unit: 1 }
}

const MINUTES: i64 = 60_000;
const HOURS: i64 = 3_600_000;

/// A topic-level key. Its value, when a topic does not override it, is the first of its synonyms
/// that the broker sets, and otherwise the first that has a default (scaled by its unit).
#[derive(Debug)]
pub struct TopicKey {
    pub name: &'static str,
    pub kind: Kind,
    pub synonyms: &'static [Synonym],
    pub doc: &'static str,
}

impl TopicKey {
    /// Kafka's default for the topic key, from its synonyms.
    pub fn default(&self) -> Option<std::string::String> {
        self.synonyms
            .iter()
            .find_map(|s| s.key.default.map(|d| scale(d, s.unit)))
    }
}

/// `value` (a whole number of `unit` milliseconds) in milliseconds; other text is returned as is.
pub fn scale(value: &str, unit: i64) -> std::string::String {
    match value.parse::<i64>() {
        Ok(v) if unit != 1 && v >= 0 => v.saturating_mul(unit).to_string(),
        _ => value.to_string(),
    }
}

const fn topic(
    name: &'static str,
    kind: Kind,
    synonyms: &'static [Synonym],
    doc: &'static str,
) -> TopicKey {
    TopicKey {
        name,
        kind,
        synonyms,
        doc,
    }
}

pub const CLEANUP_POLICY: TopicKey = topic(
    "cleanup.policy",
    List,
    &[same(&LOG_CLEANUP_POLICY)],
    "delete (compact is accepted, not applied).",
);
pub const TOPIC_COMPRESSION_TYPE: TopicKey = topic(
    "compression.type",
    String,
    &[same(&COMPRESSION_TYPE)],
    "Batches are stored as produced.",
);
pub const DELETE_RETENTION_MS: TopicKey = topic(
    "delete.retention.ms",
    Long,
    &[same(&LOG_CLEANER_DELETE_RETENTION_MS)],
    "Tombstone retention for compacted topics.",
);
pub const FILE_DELETE_DELAY_MS: TopicKey = topic(
    "file.delete.delay.ms",
    Long,
    &[same(&LOG_SEGMENT_DELETE_DELAY_MS)],
    "Delay before deleting a file.",
);
pub const FLUSH_MESSAGES: TopicKey = topic(
    "flush.messages",
    Long,
    &[same(&LOG_FLUSH_INTERVAL_MESSAGES)],
    "Messages between fsyncs.",
);
pub const FLUSH_MS: TopicKey = topic(
    "flush.ms",
    Long,
    &[
        same(&LOG_FLUSH_INTERVAL_MS),
        same(&LOG_FLUSH_SCHEDULER_INTERVAL_MS),
    ],
    "Time between fsyncs.",
);
pub const INDEX_INTERVAL_BYTES: TopicKey = topic(
    "index.interval.bytes",
    Int,
    &[same(&LOG_INDEX_INTERVAL_BYTES)],
    "Bytes between index entries.",
);
pub const MAX_COMPACTION_LAG_MS: TopicKey = topic(
    "max.compaction.lag.ms",
    Long,
    &[same(&LOG_CLEANER_MAX_COMPACTION_LAG_MS)],
    "Compaction lag bound.",
);
pub const MAX_MESSAGE_BYTES: TopicKey = topic(
    "max.message.bytes",
    Int,
    &[same(&MESSAGE_MAX_BYTES)],
    "Largest record batch.",
);
pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS: TopicKey = topic(
    "message.timestamp.after.max.ms",
    Long,
    &[same(&LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS)],
    "Allowed future skew.",
);
pub const MESSAGE_TIMESTAMP_BEFORE_MAX_MS: TopicKey = topic(
    "message.timestamp.before.max.ms",
    Long,
    &[same(&LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS)],
    "Allowed past skew.",
);
pub const MESSAGE_TIMESTAMP_TYPE: TopicKey = topic(
    "message.timestamp.type",
    String,
    &[same(&LOG_MESSAGE_TIMESTAMP_TYPE)],
    "CreateTime or LogAppendTime.",
);
pub const MIN_CLEANABLE_DIRTY_RATIO: TopicKey = topic(
    "min.cleanable.dirty.ratio",
    Double,
    &[same(&LOG_CLEANER_MIN_CLEANABLE_RATIO)],
    "Compaction trigger.",
);
pub const MIN_COMPACTION_LAG_MS: TopicKey = topic(
    "min.compaction.lag.ms",
    Long,
    &[same(&LOG_CLEANER_MIN_COMPACTION_LAG_MS)],
    "Compaction lag.",
);
pub const TOPIC_MIN_INSYNC_REPLICAS: TopicKey = topic(
    "min.insync.replicas",
    Int,
    &[same(&MIN_INSYNC_REPLICAS)],
    "Replicas needed for acks=all.",
);
pub const PREALLOCATE: TopicKey = topic(
    "preallocate",
    Boolean,
    &[same(&LOG_PREALLOCATE)],
    "Preallocate segment files.",
);
pub const RETENTION_BYTES: TopicKey = topic(
    "retention.bytes",
    Long,
    &[same(&LOG_RETENTION_BYTES)],
    "Largest partition size; -1 unlimited.",
);
pub const RETENTION_MS: TopicKey = topic(
    "retention.ms",
    Long,
    &[
        same(&LOG_RETENTION_MS),
        Synonym {
            key: &LOG_RETENTION_MINUTES,
            unit: MINUTES,
        },
        Synonym {
            key: &LOG_RETENTION_HOURS,
            unit: HOURS,
        },
    ],
    "Age limit; -1 unlimited.",
);
pub const SEGMENT_BYTES: TopicKey = topic(
    "segment.bytes",
    Int,
    &[same(&LOG_SEGMENT_BYTES)],
    "Segment file size.",
);
pub const SEGMENT_INDEX_BYTES: TopicKey = topic(
    "segment.index.bytes",
    Int,
    &[same(&LOG_INDEX_SIZE_MAX_BYTES)],
    "Largest index file size.",
);
pub const SEGMENT_JITTER_MS: TopicKey = topic(
    "segment.jitter.ms",
    Long,
    &[
        same(&LOG_ROLL_JITTER_MS),
        Synonym {
            key: &LOG_ROLL_JITTER_HOURS,
            unit: HOURS,
        },
    ],
    "Roll jitter.",
);
pub const SEGMENT_MS: TopicKey = topic(
    "segment.ms",
    Long,
    &[
        same(&LOG_ROLL_MS),
        Synonym {
            key: &LOG_ROLL_HOURS,
            unit: HOURS,
        },
    ],
    "Segment age limit.",
);
pub const TOPIC_UNCLEAN_LEADER_ELECTION_ENABLE: TopicKey = topic(
    "unclean.leader.election.enable",
    Boolean,
    &[same(&UNCLEAN_LEADER_ELECTION_ENABLE)],
    "Allow out-of-sync leaders.",
);

/// Every topic-level key, as Kafka lists them for DescribeConfigs.
pub static TOPIC_KEYS: &[&TopicKey] = &[
    &CLEANUP_POLICY,
    &TOPIC_COMPRESSION_TYPE,
    &DELETE_RETENTION_MS,
    &FILE_DELETE_DELAY_MS,
    &FLUSH_MESSAGES,
    &FLUSH_MS,
    &INDEX_INTERVAL_BYTES,
    &MAX_COMPACTION_LAG_MS,
    &MAX_MESSAGE_BYTES,
    &MESSAGE_TIMESTAMP_AFTER_MAX_MS,
    &MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
    &MESSAGE_TIMESTAMP_TYPE,
    &MIN_CLEANABLE_DIRTY_RATIO,
    &MIN_COMPACTION_LAG_MS,
    &TOPIC_MIN_INSYNC_REPLICAS,
    &PREALLOCATE,
    &RETENTION_BYTES,
    &RETENTION_MS,
    &SEGMENT_BYTES,
    &SEGMENT_INDEX_BYTES,
    &SEGMENT_JITTER_MS,
    &SEGMENT_MS,
    &TOPIC_UNCLEAN_LEADER_ELECTION_ENABLE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once_and_every_synonym_is_a_broker_key() {
        let mut names: Vec<&str> = BROKER_KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a broker key is listed twice");
        for topic in TOPIC_KEYS {
            assert!(
                !topic.synonyms.is_empty(),
                "{} has no broker key",
                topic.name
            );
            for s in topic.synonyms {
                assert!(
                    BROKER_KEYS.iter().any(|k| std::ptr::eq(*k, s.key)),
                    "{} names {} which is not listed",
                    topic.name,
                    s.key.name
                );
            }
        }
    }

    #[test]
    fn topic_defaults_come_from_broker_keys_in_their_units() {
        assert_eq!(RETENTION_MS.default().as_deref(), Some("604800000"));
        assert_eq!(SEGMENT_MS.default().as_deref(), Some("604800000"));
        assert_eq!(SEGMENT_BYTES.default().as_deref(), Some("1073741824"));
        assert_eq!(MAX_MESSAGE_BYTES.default().as_deref(), Some("1048588"));
        assert_eq!(scale("-1", HOURS), "-1");
    }
}
