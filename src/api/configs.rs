//! DescribeConfigs for topics and this broker: every key with its value, where the value came from
//! (topic override, broker file, or Kafka's default), synonyms on request, and (v3+) its type and
//! documentation.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use std::collections::BTreeMap;

use crate::config::{Kind, Origin, Source, keys};
use crate::protocol::header::RequestHeader;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub const SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;

struct Entry {
    name: &'static str,
    value: Option<String>,
    source: i8,
    read_only: bool,
    kind: Kind,
    doc: &'static str,
    synonyms: Vec<(String, Option<String>, i8)>,
}

fn to_wire(
    entry: Entry,
    version: i16,
    synonyms: bool,
    documentation: bool,
) -> DescribeConfigsResourceResult {
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(entry.name))
        .with_value(entry.value.map(StrBytes::from_string))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source);
    if synonyms {
        result.synonyms = entry
            .synonyms
            .into_iter()
            .map(|(name, value, source)| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(name))
                    .with_value(value.map(StrBytes::from_string))
                    .with_source(source)
            })
            .collect();
    }
    if version >= 3 {
        result.config_type = entry.kind as i8;
        if documentation {
            result.documentation = Some(StrBytes::from_static_str(entry.doc));
        }
    }
    result
}

fn topic_entries(ctx: &Context, overrides: &BTreeMap<String, String>) -> Vec<Entry> {
    keys::TOPIC_KEYS
        .iter()
        .map(|key| {
            let mut synonyms = Vec::new();
            if let Some(v) = overrides.get(key.name) {
                synonyms.push((key.name.to_string(), Some(v.clone()), SOURCE_DYNAMIC_TOPIC));
            }
            for synonym in key.synonyms {
                if let Some(v) = ctx.config.explicit.get(synonym.key.name) {
                    synonyms.push((
                        synonym.key.name.to_string(),
                        Some(v.clone()),
                        SOURCE_STATIC_BROKER,
                    ));
                }
            }
            if let Some(first) = key.synonyms.iter().find(|s| s.key.default.is_some()) {
                synonyms.push((
                    first.key.name.to_string(),
                    first.key.default.map(str::to_string),
                    SOURCE_DEFAULT,
                ));
            }
            let (value, origin) = ctx.config.describe_topic(key, overrides);
            Entry {
                name: key.name,
                value,
                source: topic_source(origin),
                read_only: false,
                kind: key.kind,
                doc: key.doc,
                synonyms,
            }
        })
        .collect()
}

/// DescribeConfigs' source code for where a topic key's value came from.
pub fn topic_source(origin: Origin) -> i8 {
    match origin {
        Origin::Topic => SOURCE_DYNAMIC_TOPIC,
        Origin::Broker(_) => SOURCE_STATIC_BROKER,
        Origin::Default => SOURCE_DEFAULT,
    }
}

fn broker_entries(ctx: &Context) -> Vec<Entry> {
    keys::BROKER_KEYS
        .iter()
        .map(|key| {
            let (value, source) = ctx.config.describe(key);
            let source = match source {
                Source::Static => SOURCE_STATIC_BROKER,
                Source::Default => SOURCE_DEFAULT,
            };
            Entry {
                name: key.name,
                synonyms: vec![(key.name.to_string(), value.clone(), source)],
                value,
                source,
                read_only: true,
                kind: key.kind,
                doc: key.doc,
            }
        })
        .collect()
}

pub async fn handle(
    ctx: &Arc<Context>,
    header: &RequestHeader,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let version = header.api_version;
    let image = ctx.replicas.image();
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let mut result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let entries = match resource.resource_type {
                RESOURCE_TOPIC => match image.topic(&resource.resource_name) {
                    Some(topic) => Ok(topic_entries(ctx, &topic.configs)),
                    None => Err((
                        E::UnknownTopicOrPartition.code(),
                        format!("Topic {} does not exist", &*resource.resource_name),
                    )),
                },
                RESOURCE_BROKER => {
                    let name: &str = &resource.resource_name;
                    if name.is_empty() || name == ctx.config.node_id.to_string() {
                        Ok(broker_entries(ctx))
                    } else {
                        Err((
                            E::InvalidRequest.code(),
                            format!(
                                "Unexpected broker id, expected {} but received {name}",
                                ctx.config.node_id
                            ),
                        ))
                    }
                }
                other => Err((
                    E::InvalidRequest.code(),
                    format!("Unsupported resource type {other}"),
                )),
            };
            match entries {
                Ok(entries) => {
                    // Null or empty: every key, as Kafka reads it.
                    let keys = resource
                        .configuration_keys
                        .as_ref()
                        .filter(|k| !k.is_empty());
                    result.configs = entries
                        .into_iter()
                        .filter(|e| keys.is_none_or(|k| k.iter().any(|k| &**k == e.name)))
                        .map(|e| {
                            to_wire(
                                e,
                                version,
                                request.include_synonyms,
                                request.include_documentation,
                            )
                        })
                        .collect();
                }
                Err((code, message)) => {
                    result.error_code = code;
                    result.error_message = Some(StrBytes::from_string(message));
                }
            }
            result
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
