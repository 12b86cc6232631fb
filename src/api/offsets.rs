//! Committed offsets: OffsetCommit, OffsetFetch (one group before v8, several from v8) and
//! OffsetDelete. Commits are written to `__consumer_offsets` and fsynced before they are answered.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{Context, groups, now_ms};
use crate::group::coordinator::{CommitRequest, Committed, PartitionKey, Sender};

/// Committed offsets grouped by topic: (topic, [(partition, offset)]).
type ByTopic = Vec<(String, Vec<(i32, Option<Committed>)>)>;
use crate::protocol::header::RequestHeader;

pub async fn offset_commit(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let version = header.api_version;
    let commits: Vec<CommitRequest> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| CommitRequest {
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: if version >= 6 {
                    p.committed_leader_epoch
                } else {
                    -1
                },
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    let member_commit = request.generation_id_or_member_epoch >= 0;
    let codes = match groups::ensure_offsets_topic(ctx).await {
        Err(code) => vec![code; commits.len()],
        Ok(()) if member_commit && !ctx.groups.group_exists(&request.group_id.0) => {
            // A member commit to a group the coordinator does not know.
            let code = if version >= 9 {
                E::GroupIdNotFound
            } else {
                E::IllegalGeneration
            };
            vec![code.code(); commits.len()]
        }
        Ok(()) => {
            let image = ctx.replicas.image();
            let exists = |topic: &str, partition: i32| image.partition(topic, partition).is_some();
            let sender = Sender {
                member_id: &request.member_id,
                instance_id: if version >= 7 {
                    request.group_instance_id.as_deref()
                } else {
                    None
                },
                generation_id: request.generation_id_or_member_epoch,
            };
            ctx.groups
                .commit(&request.group_id.0, sender, commits, exists, now_ms())
                .await
        }
    };
    let mut codes = codes.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(
                                    codes.next().unwrap_or(E::UnknownServerError.code()),
                                )
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// A group's committed offsets for the asked partitions (all when `None`), grouped by topic.
fn fetch_group(
    ctx: &Context,
    group_id: &str,
    wanted: Option<Vec<PartitionKey>>,
) -> Result<ByTopic, i16> {
    let found = ctx.groups.fetch_offsets(group_id, wanted.as_deref())?;
    let mut topics: ByTopic = Vec::new();
    for ((topic, partition), committed) in found {
        match topics.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, partitions)) => partitions.push((partition, committed)),
            None => topics.push((topic, vec![(partition, committed)])),
        }
    }
    Ok(topics)
}

/// Offset, leader epoch and metadata as OffsetFetch reports them (-1, -1, "" when none).
fn reported(committed: Option<Committed>, version: i16) -> (i64, i32, StrBytes) {
    match committed {
        Some(c) => (
            c.offset,
            if version >= 5 { c.leader_epoch } else { -1 },
            StrBytes::from_string(c.metadata),
        ),
        None => (-1, -1, StrBytes::new()),
    }
}

pub async fn offset_fetch(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = header.api_version;
    let ready = groups::ensure_offsets_topic(ctx).await;
    if version < 8 {
        let wanted = request.topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| (t.name.0.to_string(), *p))
                })
                .collect()
        });
        let result = ready.and_then(|()| fetch_group(ctx, &request.group_id.0, wanted));
        return match result {
            Err(code) => {
                let mut response = OffsetFetchResponse::default();
                if version >= 2 {
                    response.error_code = code;
                } else if let Some(ts) = &request.topics {
                    // v1 carries errors per partition only.
                    response.topics = ts
                        .iter()
                        .map(|t| {
                            OffsetFetchResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(
                                    t.partition_indexes
                                        .iter()
                                        .map(|p| {
                                            OffsetFetchResponsePartition::default()
                                                .with_partition_index(*p)
                                                .with_committed_offset(-1)
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                }
                response
            }
            Ok(topics) => OffsetFetchResponse::default().with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(
                                partitions
                                    .into_iter()
                                    .map(|(index, committed)| {
                                        let (offset, epoch, metadata) =
                                            reported(committed, version);
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(index)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(Some(metadata))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        };
    }
    let groups = request
        .groups
        .iter()
        .map(|g| {
            let wanted = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .flat_map(|t| {
                        t.partition_indexes
                            .iter()
                            .map(|p| (t.name.0.to_string(), *p))
                    })
                    .collect()
            });
            let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            match ready.and_then(|()| fetch_group(ctx, &g.group_id.0, wanted)) {
                Err(code) => group.with_error_code(code),
                Ok(topics) => group.with_topics(
                    topics
                        .into_iter()
                        .map(|(topic, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(StrBytes::from_string(topic)))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|(index, committed)| {
                                            let (offset, epoch, metadata) =
                                                reported(committed, version);
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(index)
                                                .with_committed_offset(offset)
                                                .with_committed_leader_epoch(epoch)
                                                .with_metadata(Some(metadata))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}

pub async fn offset_delete(
    ctx: &Arc<Context>,
    _header: &RequestHeader,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index))
        })
        .collect();
    let result = match groups::ensure_offsets_topic(ctx).await {
        Err(code) => Err(code),
        Ok(()) => {
            ctx.groups
                .delete_offsets(&request.group_id.0, &partitions, now_ms())
                .await
        }
    };
    match result {
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
        Ok(codes) => {
            let mut codes = codes.into_iter();
            OffsetDeleteResponse::default().with_topics(
                request
                    .topics
                    .iter()
                    .map(|t| {
                        OffsetDeleteResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetDeleteResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(codes.next().unwrap_or(0))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        }
    }
}
