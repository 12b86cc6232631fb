//! Wire shapes of the request bodies the broker accepts, for the decode guard in [`super::guard`].
//!
//! Each `static` below describes one request body (the bytes after the request header) for every
//! version that `kafka-protocol` 0.18 can decode for that API. The layouts follow Kafka's published
//! message schemas (`clients/src/main/resources/common/message/*Request.json`) exactly as the
//! generated decoders of `kafka-protocol` 0.18 read them: fields in wire order with the versions in
//! which they are present, the first flexible version of each message, and the tagged fields those
//! decoders know by number. Nested element structs are separate statics named after their message.
//!
//! [`request_shape`] maps an API key to its shape; keys without one are not guarded here.

use super::guard::*;

// ---------------------------------------------------------------------------------------------
// Produce (key 0), versions 3-13, flexible from 9.

static PRODUCE_PARTITION: StructShape = StructShape {
    fields: &[
        // index
        field(0, LATEST, INT32),
        // records
        field(0, LATEST, Kind::Bytes),
    ],
    tagged: &[],
};

static PRODUCE_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, 12, Kind::Str),
        // topic_id
        field(13, LATEST, UUID),
        // partition_data
        field(0, LATEST, Kind::Array(&Kind::Struct(&PRODUCE_PARTITION))),
    ],
    tagged: &[],
};

pub static PRODUCE: MessageShape = MessageShape {
    flexible_from: 9,
    body: StructShape {
        fields: &[
            // transactional_id
            field(0, LATEST, Kind::Str),
            // acks
            field(0, LATEST, INT16),
            // timeout_ms
            field(0, LATEST, INT32),
            // topic_data
            field(0, LATEST, Kind::Array(&Kind::Struct(&PRODUCE_TOPIC))),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// Fetch (key 1), versions 4-18, flexible from 12.

static FETCH_PARTITION: StructShape = StructShape {
    fields: &[
        // partition
        field(0, LATEST, INT32),
        // current_leader_epoch
        field(9, LATEST, INT32),
        // fetch_offset
        field(0, LATEST, INT64),
        // last_fetched_epoch
        field(12, LATEST, INT32),
        // log_start_offset
        field(5, LATEST, INT64),
        // partition_max_bytes
        field(0, LATEST, INT32),
    ],
    tagged: &[
        // replica_directory_id
        tagged(0, 17, LATEST, UUID),
        // high_watermark
        tagged(1, 18, LATEST, INT64),
    ],
};

static FETCH_TOPIC: StructShape = StructShape {
    fields: &[
        // topic
        field(0, 12, Kind::Str),
        // topic_id
        field(13, LATEST, UUID),
        // partitions
        field(0, LATEST, Kind::Array(&Kind::Struct(&FETCH_PARTITION))),
    ],
    tagged: &[],
};

static FETCH_FORGOTTEN_TOPIC: StructShape = StructShape {
    fields: &[
        // topic
        field(7, 12, Kind::Str),
        // topic_id
        field(13, LATEST, UUID),
        // partitions
        field(7, LATEST, Kind::Array(&INT32)),
    ],
    tagged: &[],
};

static FETCH_REPLICA_STATE: StructShape = StructShape {
    fields: &[
        // replica_id
        field(15, LATEST, INT32),
        // replica_epoch
        field(15, LATEST, INT64),
    ],
    tagged: &[],
};

pub static FETCH: MessageShape = MessageShape {
    flexible_from: 12,
    body: StructShape {
        fields: &[
            // replica_id
            field(0, 14, INT32),
            // max_wait_ms
            field(0, LATEST, INT32),
            // min_bytes
            field(0, LATEST, INT32),
            // max_bytes
            field(0, LATEST, INT32),
            // isolation_level
            field(0, LATEST, INT8),
            // session_id
            field(7, LATEST, INT32),
            // session_epoch
            field(7, LATEST, INT32),
            // topics
            field(0, LATEST, Kind::Array(&Kind::Struct(&FETCH_TOPIC))),
            // forgotten_topics_data
            field(
                7,
                LATEST,
                Kind::Array(&Kind::Struct(&FETCH_FORGOTTEN_TOPIC)),
            ),
            // rack_id
            field(11, LATEST, Kind::Str),
        ],
        tagged: &[
            // cluster_id
            tagged(0, 12, LATEST, Kind::Str),
            // replica_state
            tagged(1, 15, LATEST, Kind::Struct(&FETCH_REPLICA_STATE)),
        ],
    },
};

// ---------------------------------------------------------------------------------------------
// ListOffsets (key 2), versions 1-10, flexible from 6.

static LIST_OFFSETS_PARTITION: StructShape = StructShape {
    fields: &[
        // partition_index
        field(0, LATEST, INT32),
        // current_leader_epoch
        field(4, LATEST, INT32),
        // timestamp
        field(0, LATEST, INT64),
    ],
    tagged: &[],
};

static LIST_OFFSETS_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // partitions
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&LIST_OFFSETS_PARTITION)),
        ),
    ],
    tagged: &[],
};

pub static LIST_OFFSETS: MessageShape = MessageShape {
    flexible_from: 6,
    body: StructShape {
        fields: &[
            // replica_id
            field(0, LATEST, INT32),
            // isolation_level
            field(2, LATEST, INT8),
            // topics
            field(0, LATEST, Kind::Array(&Kind::Struct(&LIST_OFFSETS_TOPIC))),
            // timeout_ms
            field(10, LATEST, INT32),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// Metadata (key 3), versions 0-13, flexible from 9.

static METADATA_TOPIC: StructShape = StructShape {
    fields: &[
        // topic_id
        field(10, LATEST, UUID),
        // name
        field(0, LATEST, Kind::Str),
    ],
    tagged: &[],
};

pub static METADATA: MessageShape = MessageShape {
    flexible_from: 9,
    body: StructShape {
        fields: &[
            // topics
            field(0, LATEST, Kind::Array(&Kind::Struct(&METADATA_TOPIC))),
            // allow_auto_topic_creation
            field(4, LATEST, BOOL),
            // include_cluster_authorized_operations
            field(8, 10, BOOL),
            // include_topic_authorized_operations
            field(8, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// OffsetCommit (key 8), versions 2-9, flexible from 8.

static OFFSET_COMMIT_PARTITION: StructShape = StructShape {
    fields: &[
        // partition_index
        field(0, LATEST, INT32),
        // committed_offset
        field(0, LATEST, INT64),
        // committed_leader_epoch
        field(6, LATEST, INT32),
        // committed_metadata
        field(0, LATEST, Kind::Str),
    ],
    tagged: &[],
};

static OFFSET_COMMIT_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // partitions
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&OFFSET_COMMIT_PARTITION)),
        ),
    ],
    tagged: &[],
};

pub static OFFSET_COMMIT: MessageShape = MessageShape {
    flexible_from: 8,
    body: StructShape {
        fields: &[
            // group_id
            field(0, LATEST, Kind::Str),
            // generation_id_or_member_epoch
            field(0, LATEST, INT32),
            // member_id
            field(0, LATEST, Kind::Str),
            // group_instance_id
            field(7, LATEST, Kind::Str),
            // retention_time_ms
            field(0, 4, INT64),
            // topics
            field(0, LATEST, Kind::Array(&Kind::Struct(&OFFSET_COMMIT_TOPIC))),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// OffsetFetch (key 9), versions 1-9, flexible from 6. Version 8 replaced the single group with a
// list of groups.

static OFFSET_FETCH_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, 7, Kind::Str),
        // partition_indexes
        field(0, 7, Kind::Array(&INT32)),
    ],
    tagged: &[],
};

static OFFSET_FETCH_GROUP_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(8, LATEST, Kind::Str),
        // partition_indexes
        field(8, LATEST, Kind::Array(&INT32)),
    ],
    tagged: &[],
};

static OFFSET_FETCH_GROUP: StructShape = StructShape {
    fields: &[
        // group_id
        field(8, LATEST, Kind::Str),
        // member_id
        field(9, LATEST, Kind::Str),
        // member_epoch
        field(9, LATEST, INT32),
        // topics
        field(
            8,
            LATEST,
            Kind::Array(&Kind::Struct(&OFFSET_FETCH_GROUP_TOPIC)),
        ),
    ],
    tagged: &[],
};

pub static OFFSET_FETCH: MessageShape = MessageShape {
    flexible_from: 6,
    body: StructShape {
        fields: &[
            // group_id
            field(0, 7, Kind::Str),
            // topics
            field(0, 7, Kind::Array(&Kind::Struct(&OFFSET_FETCH_TOPIC))),
            // groups
            field(8, LATEST, Kind::Array(&Kind::Struct(&OFFSET_FETCH_GROUP))),
            // require_stable
            field(7, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// FindCoordinator (key 10), versions 0-6, flexible from 3.

pub static FIND_COORDINATOR: MessageShape = MessageShape {
    flexible_from: 3,
    body: StructShape {
        fields: &[
            // key
            field(0, 3, Kind::Str),
            // key_type
            field(1, LATEST, INT8),
            // coordinator_keys
            field(4, LATEST, Kind::Array(&Kind::Str)),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// JoinGroup (key 11), versions 0-9, flexible from 6.

static JOIN_GROUP_PROTOCOL: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // metadata
        field(0, LATEST, Kind::Bytes),
    ],
    tagged: &[],
};

pub static JOIN_GROUP: MessageShape = MessageShape {
    flexible_from: 6,
    body: StructShape {
        fields: &[
            // group_id
            field(0, LATEST, Kind::Str),
            // session_timeout_ms
            field(0, LATEST, INT32),
            // rebalance_timeout_ms
            field(1, LATEST, INT32),
            // member_id
            field(0, LATEST, Kind::Str),
            // group_instance_id
            field(5, LATEST, Kind::Str),
            // protocol_type
            field(0, LATEST, Kind::Str),
            // protocols
            field(0, LATEST, Kind::Array(&Kind::Struct(&JOIN_GROUP_PROTOCOL))),
            // reason
            field(8, LATEST, Kind::Str),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// Heartbeat (key 12), versions 0-4, flexible from 4.

pub static HEARTBEAT: MessageShape = MessageShape {
    flexible_from: 4,
    body: StructShape {
        fields: &[
            // group_id
            field(0, LATEST, Kind::Str),
            // generation_id
            field(0, LATEST, INT32),
            // member_id
            field(0, LATEST, Kind::Str),
            // group_instance_id
            field(3, LATEST, Kind::Str),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// LeaveGroup (key 13), versions 0-5, flexible from 4. Version 3 replaced the single member with a
// list of members.

static LEAVE_GROUP_MEMBER: StructShape = StructShape {
    fields: &[
        // member_id
        field(3, LATEST, Kind::Str),
        // group_instance_id
        field(3, LATEST, Kind::Str),
        // reason
        field(5, LATEST, Kind::Str),
    ],
    tagged: &[],
};

pub static LEAVE_GROUP: MessageShape = MessageShape {
    flexible_from: 4,
    body: StructShape {
        fields: &[
            // group_id
            field(0, LATEST, Kind::Str),
            // member_id
            field(0, 2, Kind::Str),
            // members
            field(3, LATEST, Kind::Array(&Kind::Struct(&LEAVE_GROUP_MEMBER))),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// SyncGroup (key 14), versions 0-5, flexible from 4.

static SYNC_GROUP_ASSIGNMENT: StructShape = StructShape {
    fields: &[
        // member_id
        field(0, LATEST, Kind::Str),
        // assignment
        field(0, LATEST, Kind::Bytes),
    ],
    tagged: &[],
};

pub static SYNC_GROUP: MessageShape = MessageShape {
    flexible_from: 4,
    body: StructShape {
        fields: &[
            // group_id
            field(0, LATEST, Kind::Str),
            // generation_id
            field(0, LATEST, INT32),
            // member_id
            field(0, LATEST, Kind::Str),
            // group_instance_id
            field(3, LATEST, Kind::Str),
            // protocol_type
            field(5, LATEST, Kind::Str),
            // protocol_name
            field(5, LATEST, Kind::Str),
            // assignments
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&SYNC_GROUP_ASSIGNMENT)),
            ),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DescribeGroups (key 15), versions 0-6, flexible from 5.

pub static DESCRIBE_GROUPS: MessageShape = MessageShape {
    flexible_from: 5,
    body: StructShape {
        fields: &[
            // groups
            field(0, LATEST, Kind::Array(&Kind::Str)),
            // include_authorized_operations
            field(3, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// ListGroups (key 16), versions 0-5, flexible from 3. Versions 0-2 have an empty body.

pub static LIST_GROUPS: MessageShape = MessageShape {
    flexible_from: 3,
    body: StructShape {
        fields: &[
            // states_filter
            field(4, LATEST, Kind::Array(&Kind::Str)),
            // types_filter
            field(5, LATEST, Kind::Array(&Kind::Str)),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// SaslHandshake (key 17), versions 0-1, never flexible.

pub static SASL_HANDSHAKE: MessageShape = MessageShape {
    flexible_from: i16::MAX,
    body: StructShape {
        fields: &[
            // mechanism
            field(0, LATEST, Kind::Str),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// ApiVersions (key 18), versions 0-4, flexible from 3. Versions 0-2 have an empty body.

pub static API_VERSIONS: MessageShape = MessageShape {
    flexible_from: 3,
    body: StructShape {
        fields: &[
            // client_software_name
            field(3, LATEST, Kind::Str),
            // client_software_version
            field(3, LATEST, Kind::Str),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// CreateTopics (key 19), versions 2-7, flexible from 5.

static CREATE_TOPICS_ASSIGNMENT: StructShape = StructShape {
    fields: &[
        // partition_index
        field(0, LATEST, INT32),
        // broker_ids
        field(0, LATEST, Kind::Array(&INT32)),
    ],
    tagged: &[],
};

static CREATE_TOPICS_CONFIG: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // value
        field(0, LATEST, Kind::Str),
    ],
    tagged: &[],
};

static CREATE_TOPICS_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // num_partitions
        field(0, LATEST, INT32),
        // replication_factor
        field(0, LATEST, INT16),
        // assignments
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&CREATE_TOPICS_ASSIGNMENT)),
        ),
        // configs
        field(0, LATEST, Kind::Array(&Kind::Struct(&CREATE_TOPICS_CONFIG))),
    ],
    tagged: &[],
};

pub static CREATE_TOPICS: MessageShape = MessageShape {
    flexible_from: 5,
    body: StructShape {
        fields: &[
            // topics
            field(0, LATEST, Kind::Array(&Kind::Struct(&CREATE_TOPICS_TOPIC))),
            // timeout_ms
            field(0, LATEST, INT32),
            // validate_only
            field(0, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DeleteTopics (key 20), versions 1-6, flexible from 4. Version 6 replaced the list of names with
// a list of (name, id) pairs.

static DELETE_TOPICS_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(6, LATEST, Kind::Str),
        // topic_id
        field(6, LATEST, UUID),
    ],
    tagged: &[],
};

pub static DELETE_TOPICS: MessageShape = MessageShape {
    flexible_from: 4,
    body: StructShape {
        fields: &[
            // topics
            field(6, LATEST, Kind::Array(&Kind::Struct(&DELETE_TOPICS_TOPIC))),
            // topic_names
            field(0, 5, Kind::Array(&Kind::Str)),
            // timeout_ms
            field(0, LATEST, INT32),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DeleteRecords (key 21), versions 0-2, flexible from 2.

static DELETE_RECORDS_PARTITION: StructShape = StructShape {
    fields: &[
        // partition_index
        field(0, LATEST, INT32),
        // offset
        field(0, LATEST, INT64),
    ],
    tagged: &[],
};

static DELETE_RECORDS_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // partitions
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&DELETE_RECORDS_PARTITION)),
        ),
    ],
    tagged: &[],
};

pub static DELETE_RECORDS: MessageShape = MessageShape {
    flexible_from: 2,
    body: StructShape {
        fields: &[
            // topics
            field(0, LATEST, Kind::Array(&Kind::Struct(&DELETE_RECORDS_TOPIC))),
            // timeout_ms
            field(0, LATEST, INT32),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// InitProducerId (key 22), versions 0-5, flexible from 2.

pub static INIT_PRODUCER_ID: MessageShape = MessageShape {
    flexible_from: 2,
    body: StructShape {
        fields: &[
            // transactional_id
            field(0, LATEST, Kind::Str),
            // transaction_timeout_ms
            field(0, LATEST, INT32),
            // producer_id
            field(3, LATEST, INT64),
            // producer_epoch
            field(3, LATEST, INT16),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// OffsetForLeaderEpoch (key 23), versions 2-4, flexible from 4.

static OFFSET_FOR_LEADER_EPOCH_PARTITION: StructShape = StructShape {
    fields: &[
        // partition
        field(0, LATEST, INT32),
        // current_leader_epoch
        field(0, LATEST, INT32),
        // leader_epoch
        field(0, LATEST, INT32),
    ],
    tagged: &[],
};

static OFFSET_FOR_LEADER_EPOCH_TOPIC: StructShape = StructShape {
    fields: &[
        // topic
        field(0, LATEST, Kind::Str),
        // partitions
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&OFFSET_FOR_LEADER_EPOCH_PARTITION)),
        ),
    ],
    tagged: &[],
};

pub static OFFSET_FOR_LEADER_EPOCH: MessageShape = MessageShape {
    flexible_from: 4,
    body: StructShape {
        fields: &[
            // replica_id
            field(3, LATEST, INT32),
            // topics
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&OFFSET_FOR_LEADER_EPOCH_TOPIC)),
            ),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DescribeConfigs (key 32), versions 1-4, flexible from 4.

static DESCRIBE_CONFIGS_RESOURCE: StructShape = StructShape {
    fields: &[
        // resource_type
        field(0, LATEST, INT8),
        // resource_name
        field(0, LATEST, Kind::Str),
        // configuration_keys
        field(0, LATEST, Kind::Array(&Kind::Str)),
    ],
    tagged: &[],
};

pub static DESCRIBE_CONFIGS: MessageShape = MessageShape {
    flexible_from: 4,
    body: StructShape {
        fields: &[
            // resources
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&DESCRIBE_CONFIGS_RESOURCE)),
            ),
            // include_synonyms
            field(0, LATEST, BOOL),
            // include_documentation
            field(3, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// AlterConfigs (key 33), versions 0-2, flexible from 2.

static ALTER_CONFIGS_CONFIG: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // value
        field(0, LATEST, Kind::Str),
    ],
    tagged: &[],
};

static ALTER_CONFIGS_RESOURCE: StructShape = StructShape {
    fields: &[
        // resource_type
        field(0, LATEST, INT8),
        // resource_name
        field(0, LATEST, Kind::Str),
        // configs
        field(0, LATEST, Kind::Array(&Kind::Struct(&ALTER_CONFIGS_CONFIG))),
    ],
    tagged: &[],
};

pub static ALTER_CONFIGS: MessageShape = MessageShape {
    flexible_from: 2,
    body: StructShape {
        fields: &[
            // resources
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&ALTER_CONFIGS_RESOURCE)),
            ),
            // validate_only
            field(0, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// CreatePartitions (key 37), versions 0-3, flexible from 2.

static CREATE_PARTITIONS_ASSIGNMENT: StructShape = StructShape {
    fields: &[
        // broker_ids
        field(0, LATEST, Kind::Array(&INT32)),
    ],
    tagged: &[],
};

static CREATE_PARTITIONS_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // count
        field(0, LATEST, INT32),
        // assignments
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&CREATE_PARTITIONS_ASSIGNMENT)),
        ),
    ],
    tagged: &[],
};

pub static CREATE_PARTITIONS: MessageShape = MessageShape {
    flexible_from: 2,
    body: StructShape {
        fields: &[
            // topics
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&CREATE_PARTITIONS_TOPIC)),
            ),
            // timeout_ms
            field(0, LATEST, INT32),
            // validate_only
            field(0, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DeleteGroups (key 42), versions 0-2, flexible from 2.

pub static DELETE_GROUPS: MessageShape = MessageShape {
    flexible_from: 2,
    body: StructShape {
        fields: &[
            // groups_names
            field(0, LATEST, Kind::Array(&Kind::Str)),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// IncrementalAlterConfigs (key 44), versions 0-1, flexible from 1.

static INCREMENTAL_ALTER_CONFIGS_CONFIG: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // config_operation
        field(0, LATEST, INT8),
        // value
        field(0, LATEST, Kind::Str),
    ],
    tagged: &[],
};

static INCREMENTAL_ALTER_CONFIGS_RESOURCE: StructShape = StructShape {
    fields: &[
        // resource_type
        field(0, LATEST, INT8),
        // resource_name
        field(0, LATEST, Kind::Str),
        // configs
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&INCREMENTAL_ALTER_CONFIGS_CONFIG)),
        ),
    ],
    tagged: &[],
};

pub static INCREMENTAL_ALTER_CONFIGS: MessageShape = MessageShape {
    flexible_from: 1,
    body: StructShape {
        fields: &[
            // resources
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&INCREMENTAL_ALTER_CONFIGS_RESOURCE)),
            ),
            // validate_only
            field(0, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// OffsetDelete (key 47), version 0, never flexible.

static OFFSET_DELETE_PARTITION: StructShape = StructShape {
    fields: &[
        // partition_index
        field(0, LATEST, INT32),
    ],
    tagged: &[],
};

static OFFSET_DELETE_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // partitions
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&OFFSET_DELETE_PARTITION)),
        ),
    ],
    tagged: &[],
};

pub static OFFSET_DELETE: MessageShape = MessageShape {
    flexible_from: i16::MAX,
    body: StructShape {
        fields: &[
            // group_id
            field(0, LATEST, Kind::Str),
            // topics
            field(0, LATEST, Kind::Array(&Kind::Struct(&OFFSET_DELETE_TOPIC))),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// ElectLeaders (key 43), versions 0-2, flexible from 2.

static ELECT_LEADERS_TOPIC: StructShape = StructShape {
    fields: &[
        // topic
        field(0, LATEST, Kind::Str),
        // partitions
        field(0, LATEST, Kind::Array(&INT32)),
    ],
    tagged: &[],
};

pub static ELECT_LEADERS: MessageShape = MessageShape {
    flexible_from: 2,
    body: StructShape {
        fields: &[
            // election_type
            field(1, LATEST, INT8),
            // topic_partitions (nullable)
            field(0, LATEST, Kind::Array(&Kind::Struct(&ELECT_LEADERS_TOPIC))),
            // timeout_ms
            field(0, LATEST, INT32),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DescribeQuorum (key 55), versions 0-2, flexible from 0.

static DESCRIBE_QUORUM_PARTITION: StructShape = StructShape {
    fields: &[
        // partition_index
        field(0, LATEST, INT32),
    ],
    tagged: &[],
};

static DESCRIBE_QUORUM_TOPIC: StructShape = StructShape {
    fields: &[
        // topic_name
        field(0, LATEST, Kind::Str),
        // partitions
        field(
            0,
            LATEST,
            Kind::Array(&Kind::Struct(&DESCRIBE_QUORUM_PARTITION)),
        ),
    ],
    tagged: &[],
};

pub static DESCRIBE_QUORUM: MessageShape = MessageShape {
    flexible_from: 0,
    body: StructShape {
        fields: &[
            // topics
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&DESCRIBE_QUORUM_TOPIC)),
            ),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// UnregisterBroker (key 64), version 0, flexible from 0.

pub static UNREGISTER_BROKER: MessageShape = MessageShape {
    flexible_from: 0,
    body: StructShape {
        fields: &[
            // broker_id
            field(0, LATEST, INT32),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DescribeCluster (key 60), versions 0-2, flexible from 0.

pub static DESCRIBE_CLUSTER: MessageShape = MessageShape {
    flexible_from: 0,
    body: StructShape {
        fields: &[
            // include_cluster_authorized_operations
            field(0, LATEST, BOOL),
            // endpoint_type
            field(1, LATEST, INT8),
            // include_fenced_brokers
            field(2, LATEST, BOOL),
        ],
        tagged: &[],
    },
};

// ---------------------------------------------------------------------------------------------
// DescribeProducers (key 61), version 0, flexible from 0.

static DESCRIBE_PRODUCERS_TOPIC: StructShape = StructShape {
    fields: &[
        // name
        field(0, LATEST, Kind::Str),
        // partition_indexes
        field(0, LATEST, Kind::Array(&INT32)),
    ],
    tagged: &[],
};

pub static DESCRIBE_PRODUCERS: MessageShape = MessageShape {
    flexible_from: 0,
    body: StructShape {
        fields: &[
            // topics
            field(
                0,
                LATEST,
                Kind::Array(&Kind::Struct(&DESCRIBE_PRODUCERS_TOPIC)),
            ),
        ],
        tagged: &[],
    },
};

/// The request body shape for `api_key`, or `None` for an API without one here.
pub fn request_shape(api_key: i16) -> Option<&'static MessageShape> {
    let shape = match api_key {
        0 => &PRODUCE,
        1 => &FETCH,
        2 => &LIST_OFFSETS,
        3 => &METADATA,
        8 => &OFFSET_COMMIT,
        9 => &OFFSET_FETCH,
        10 => &FIND_COORDINATOR,
        11 => &JOIN_GROUP,
        12 => &HEARTBEAT,
        13 => &LEAVE_GROUP,
        14 => &SYNC_GROUP,
        15 => &DESCRIBE_GROUPS,
        16 => &LIST_GROUPS,
        17 => &SASL_HANDSHAKE,
        18 => &API_VERSIONS,
        19 => &CREATE_TOPICS,
        20 => &DELETE_TOPICS,
        21 => &DELETE_RECORDS,
        22 => &INIT_PRODUCER_ID,
        23 => &OFFSET_FOR_LEADER_EPOCH,
        32 => &DESCRIBE_CONFIGS,
        33 => &ALTER_CONFIGS,
        37 => &CREATE_PARTITIONS,
        42 => &DELETE_GROUPS,
        43 => &ELECT_LEADERS,
        44 => &INCREMENTAL_ALTER_CONFIGS,
        47 => &OFFSET_DELETE,
        55 => &DESCRIBE_QUORUM,
        60 => &DESCRIBE_CLUSTER,
        61 => &DESCRIBE_PRODUCERS,
        64 => &UNREGISTER_BROKER,
        _ => return None,
    };
    Some(shape)
}

#[cfg(test)]
mod tests {
    use super::super::guard::{Kind, MessageShape, check_body};
    use super::super::samples::*;
    use super::request_shape;
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Decodable, Encodable, Message};

    /// Encodes a populated request at every version `kafka-protocol` supports for it and checks
    /// that the guard accepts exactly that body: not the body cut short by one byte, and not the
    /// body whose first top-level array claims 2^31 - 1 elements.
    fn check_versions<T: Encodable + Decodable + Message>(api_key: i16, build: fn(i16) -> T) {
        let shape = request_shape(api_key).expect("a shape for the api key");
        for version in T::VERSIONS.min..=T::VERSIONS.max {
            let at = format!("api key {api_key} version {version}");
            let mut buf = BytesMut::new();
            build(version)
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("{at}: encoding failed: {e}"));
            let body = buf.freeze();

            // The body is one the generic decoder reads completely.
            let mut wire = body.clone();
            T::decode(&mut wire, version).unwrap_or_else(|e| panic!("{at}: decoding failed: {e}"));
            assert!(wire.is_empty(), "{at}: the decoder left bytes over");

            assert_eq!(
                check_body(shape, version, &body),
                Ok(()),
                "{at}: {:02x?}",
                &body[..]
            );
            if !body.is_empty() {
                let cut = &body[..body.len() - 1];
                assert!(
                    check_body(shape, version, cut).is_err(),
                    "{at}: truncated body accepted"
                );
            }

            let flexible = version >= shape.flexible_from;
            if let Some(offset) = first_array_offset(shape, version, &body) {
                let mut forged = body[..offset].to_vec();
                let rest = if flexible {
                    // Compact count + 1 as a five-byte varint: 2^31 - 1.
                    forged.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
                    &body[offset + uvarint(&body[offset..]).1..]
                } else {
                    forged.extend_from_slice(&0x7fff_ffff_i32.to_be_bytes());
                    &body[offset + 4..]
                };
                forged.extend_from_slice(rest);
                let err = check_body(shape, version, &forged).unwrap_err();
                assert_eq!(
                    err.reason, "array count exceeds the bytes that remain",
                    "{at}: forged array count"
                );
                let count_width = if flexible { 5 } else { 4 };
                assert_eq!(
                    err.position,
                    offset + count_width,
                    "{at}: forged array count"
                );
            }
        }
    }

    /// The byte offset of the first top-level array in `body`, found by stepping over the fields
    /// before it; `None` when a nested struct comes first or the body has no top-level array.
    fn first_array_offset(shape: &MessageShape, version: i16, body: &[u8]) -> Option<usize> {
        let flexible = version >= shape.flexible_from;
        let mut pos = 0;
        for field in shape.body.fields {
            if !(field.min..=field.max).contains(&version) {
                continue;
            }
            match field.kind {
                Kind::Array(_) => return Some(pos),
                Kind::Struct(_) => return None,
                Kind::Fixed(width) => pos += width,
                Kind::UVarint => pos += uvarint(&body[pos..]).1,
                Kind::Str | Kind::Bytes => {
                    let len = if flexible {
                        let (n, width) = uvarint(&body[pos..]);
                        pos += width;
                        n.saturating_sub(1) as usize
                    } else if matches!(field.kind, Kind::Str) {
                        let n = i16::from_be_bytes([body[pos], body[pos + 1]]);
                        pos += 2;
                        n.max(0) as usize
                    } else {
                        let n = i32::from_be_bytes(body[pos..pos + 4].try_into().unwrap());
                        pos += 4;
                        n.max(0) as usize
                    };
                    pos += len;
                }
            }
        }
        None
    }

    /// An unsigned varint at the start of `bytes`: its value and its width.
    fn uvarint(bytes: &[u8]) -> (u32, usize) {
        let mut value = 0u32;
        for (i, byte) in bytes.iter().enumerate().take(5) {
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return (value, i + 1);
            }
        }
        panic!("malformed varint in an encoded body");
    }

    macro_rules! shape_tests {
        ($($name:ident: $api_key:expr => $build:ident;)*) => {
            $(
                #[test]
                fn $name() {
                    check_versions($api_key, $build);
                }
            )*
        };
    }

    shape_tests! {
        produce_matches_its_shape: 0 => produce;
        fetch_matches_its_shape: 1 => fetch;
        list_offsets_matches_its_shape: 2 => list_offsets;
        metadata_matches_its_shape: 3 => metadata;
        offset_commit_matches_its_shape: 8 => offset_commit;
        offset_fetch_matches_its_shape: 9 => offset_fetch;
        find_coordinator_matches_its_shape: 10 => find_coordinator;
        join_group_matches_its_shape: 11 => join_group;
        heartbeat_matches_its_shape: 12 => heartbeat;
        leave_group_matches_its_shape: 13 => leave_group;
        sync_group_matches_its_shape: 14 => sync_group;
        describe_groups_matches_its_shape: 15 => describe_groups;
        list_groups_matches_its_shape: 16 => list_groups;
        sasl_handshake_matches_its_shape: 17 => sasl_handshake;
        api_versions_matches_its_shape: 18 => api_versions;
        create_topics_matches_its_shape: 19 => create_topics;
        delete_topics_matches_its_shape: 20 => delete_topics;
        delete_records_matches_its_shape: 21 => delete_records;
        init_producer_id_matches_its_shape: 22 => init_producer_id;
        offset_for_leader_epoch_matches_its_shape: 23 => offset_for_leader_epoch;
        describe_configs_matches_its_shape: 32 => describe_configs;
        alter_configs_matches_its_shape: 33 => alter_configs;
        create_partitions_matches_its_shape: 37 => create_partitions;
        delete_groups_matches_its_shape: 42 => delete_groups;
        incremental_alter_configs_matches_its_shape: 44 => incremental_alter_configs;
        offset_delete_matches_its_shape: 47 => offset_delete;
        elect_leaders_matches_its_shape: 43 => elect_leaders;
        describe_quorum_matches_its_shape: 55 => describe_quorum;
        describe_cluster_matches_its_shape: 60 => describe_cluster;
        unregister_broker_matches_its_shape: 64 => unregister_broker;
        describe_producers_matches_its_shape: 61 => describe_producers;
    }

    #[test]
    fn other_api_keys_have_no_shape() {
        for api_key in [-1, 4, 5, 6, 7, 24, 36, 50, 62, 1000] {
            assert!(request_shape(api_key).is_none(), "api key {api_key}");
        }
    }
}
