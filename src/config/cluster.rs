//! What this node is in a cluster, from Kafka's KRaft keys: its roles (`process.roles`), the
//! metadata quorum's voters (`controller.quorum.voters`), its listeners by purpose (clients,
//! inter-broker, controller: `controller.listener.names`, `inter.broker.listener.name`) and their
//! security protocols (`listener.security.protocol.map`), and the timings of broker sessions and
//! quorum elections.
//!
//! Without `controller.quorum.voters` the node is a single broker whose metadata log is a quorum of
//! one, exactly as before clusters existed. With them, the rules Kafka enforces are enforced here,
//! each with a message that names the keys involved.

use std::collections::BTreeMap;

use super::keys::{self, Key};
use super::{ConfigError, Listener, Resolver, invalid};

/// One voter of the metadata quorum: `id@host:port`, the port of its controller listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

/// The roles a node plays (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

/// A listener's security protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn parse(text: &str) -> Option<SecurityProtocol> {
        match text {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

/// The cluster settings of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The static voters; empty for a single node (a quorum of one).
    pub voters: Vec<Voter>,
    pub roles: Roles,
    /// Listener names of the controller (empty for a single node).
    pub controller_listener_names: Vec<String>,
    /// The listener other brokers reach this one by (a single node: the first listener).
    pub inter_broker_listener_name: String,
    pub broker_heartbeat_interval_ms: u64,
    pub broker_session_timeout_ms: u64,
    pub election_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub rack: Option<String>,
    pub auto_leader_rebalance: bool,
    pub leader_imbalance_check_interval_ms: u64,
}

impl ClusterConfig {
    /// Whether this node is a single broker with a quorum of one (no quorum keys given).
    pub fn is_single_node(&self) -> bool {
        self.voters.is_empty()
    }

    /// Whether `listener` is one of the controller's.
    pub fn is_controller_listener(&self, listener: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == listener)
    }
}

fn list(r: &Resolver<'_>, key: &Key) -> Vec<String> {
    r.text(key)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses `controller.quorum.voters`.
fn voters(r: &Resolver<'_>) -> Result<Vec<Voter>, ConfigError> {
    let key = keys::CONTROLLER_QUORUM_VOTERS.name;
    let text = r.text(&keys::CONTROLLER_QUORUM_VOTERS);
    let mut voters: Vec<Voter> = Vec::new();
    for entry in list(r, &keys::CONTROLLER_QUORUM_VOTERS) {
        let bad = |why: &str| invalid(key, text, format!("{entry:?}: {why}"));
        let (id, address) = entry
            .split_once('@')
            .ok_or_else(|| bad("expected id@host:port"))?;
        let id: i32 = id
            .parse()
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| bad("the id is not a node id (0 or more)"))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| bad("expected id@host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        if voters.iter().any(|v| v.id == id) {
            return Err(bad("the id is listed twice"));
        }
        voters.push(Voter {
            id,
            host: host.to_string(),
            port,
        });
    }
    Ok(voters)
}

/// Parses `process.roles`.
fn roles(r: &Resolver<'_>) -> Result<Roles, ConfigError> {
    let key = keys::PROCESS_ROLES.name;
    let text = r.text(&keys::PROCESS_ROLES);
    let mut roles = Roles {
        broker: false,
        controller: false,
    };
    for role in list(r, &keys::PROCESS_ROLES) {
        let slot = match role.as_str() {
            "broker" => &mut roles.broker,
            "controller" => &mut roles.controller,
            other => {
                return Err(invalid(
                    key,
                    text,
                    format!("unknown role {other:?}: expected broker and/or controller"),
                ));
            }
        };
        if *slot {
            return Err(invalid(key, text, format!("{role} is listed twice")));
        }
        *slot = true;
    }
    if !roles.broker && !roles.controller {
        return Err(invalid(key, text, "no role given"));
    }
    Ok(roles)
}

/// Parses `listener.security.protocol.map` and checks every listener against it. Only PLAINTEXT is
/// served yet.
fn check_protocols(r: &Resolver<'_>, listeners: &[Listener]) -> Result<(), ConfigError> {
    let key = keys::LISTENER_SECURITY_PROTOCOL_MAP.name;
    let text = r.text(&keys::LISTENER_SECURITY_PROTOCOL_MAP);
    let mut map: BTreeMap<String, SecurityProtocol> = BTreeMap::new();
    for entry in list(r, &keys::LISTENER_SECURITY_PROTOCOL_MAP) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| invalid(key, text, format!("{entry:?}: expected NAME:PROTOCOL")))?;
        let protocol = SecurityProtocol::parse(protocol.trim()).ok_or_else(|| {
            invalid(
                key,
                text,
                format!("{protocol:?} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
            )
        })?;
        map.insert(name.trim().to_string(), protocol);
    }
    for listener in listeners {
        match map.get(&listener.name) {
            None => {
                return Err(ConfigError(format!(
                    "listener {} has no security protocol in {key}",
                    listener.name
                )));
            }
            Some(SecurityProtocol::Plaintext) => {}
            Some(other) => {
                return Err(ConfigError(format!(
                    "listener {} uses {other:?}, which kafe does not serve yet (only PLAINTEXT)",
                    listener.name
                )));
            }
        }
    }
    Ok(())
}

/// Resolves the cluster settings of node `node_id` with these `listeners`, and whether advertised
/// listeners given explicitly (`advertised`) are allowed.
pub(super) fn resolve(
    r: &Resolver<'_>,
    node_id: i32,
    listeners: &[Listener],
    advertised: Option<&[Listener]>,
) -> Result<ClusterConfig, ConfigError> {
    if !list(r, &keys::CONTROLLER_QUORUM_BOOTSTRAP_SERVERS).is_empty() {
        return Err(ConfigError(format!(
            "{} (a dynamic quorum, KIP-853) is not served yet: list the quorum in {}",
            keys::CONTROLLER_QUORUM_BOOTSTRAP_SERVERS.name,
            keys::CONTROLLER_QUORUM_VOTERS.name
        )));
    }
    check_protocols(r, listeners)?;
    let voters = voters(r)?;
    let controller_listener_names = list(r, &keys::CONTROLLER_LISTENER_NAMES);
    let timings = |roles: Roles,
                   controller_listener_names: Vec<String>,
                   inter_broker_listener_name: String|
     -> Result<ClusterConfig, ConfigError> {
        let heartbeat = r.positive_int(&keys::BROKER_HEARTBEAT_INTERVAL_MS)? as u64;
        let session = r.positive_int(&keys::BROKER_SESSION_TIMEOUT_MS)? as u64;
        if session <= heartbeat {
            return Err(invalid(
                keys::BROKER_SESSION_TIMEOUT_MS.name,
                &session.to_string(),
                format!(
                    "must exceed {} ({heartbeat})",
                    keys::BROKER_HEARTBEAT_INTERVAL_MS.name
                ),
            ));
        }
        Ok(ClusterConfig {
            voters: voters.clone(),
            roles,
            controller_listener_names,
            inter_broker_listener_name,
            broker_heartbeat_interval_ms: heartbeat,
            broker_session_timeout_ms: session,
            election_timeout_ms: r.positive_int(&keys::CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS)?
                as u64,
            request_timeout_ms: r.positive_int(&keys::CONTROLLER_QUORUM_REQUEST_TIMEOUT_MS)? as u64,
            rack: r
                .explicit(&keys::BROKER_RACK)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            auto_leader_rebalance: r.bool(&keys::AUTO_LEADER_REBALANCE_ENABLE)?,
            leader_imbalance_check_interval_ms: r
                .positive_long(&keys::LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS)?
                as u64
                * 1000,
        })
    };
    if voters.is_empty() {
        if r.explicit(&keys::PROCESS_ROLES).is_some() {
            return Err(ConfigError(format!(
                "{} is set, which makes this node part of a cluster, but {} is not: list the \
                 quorum's voters there, or remove {} for a single node",
                keys::PROCESS_ROLES.name,
                keys::CONTROLLER_QUORUM_VOTERS.name,
                keys::PROCESS_ROLES.name
            )));
        }
        let first = listeners
            .first()
            .map(|l| l.name.clone())
            .unwrap_or_default();
        return timings(
            Roles {
                broker: true,
                controller: true,
            },
            Vec::new(),
            first,
        );
    }
    if r.explicit(&keys::PROCESS_ROLES).is_none() {
        return Err(ConfigError(format!(
            "{} is set, so {} must say what this node is: broker, controller, or both",
            keys::CONTROLLER_QUORUM_VOTERS.name,
            keys::PROCESS_ROLES.name
        )));
    }
    let roles = roles(r)?;
    if controller_listener_names.is_empty() {
        return Err(ConfigError(format!(
            "{} must name the controller's listener in a cluster",
            keys::CONTROLLER_LISTENER_NAMES.name
        )));
    }
    let is_controller_listener = |name: &str| controller_listener_names.iter().any(|c| c == name);
    let is_voter = voters.iter().any(|v| v.id == node_id);
    if roles.controller {
        if !is_voter {
            return Err(ConfigError(format!(
                "node.id {node_id} is a controller but not among {}",
                keys::CONTROLLER_QUORUM_VOTERS.name
            )));
        }
        let first = &controller_listener_names[0];
        if !listeners.iter().any(|l| &l.name == first) {
            return Err(ConfigError(format!(
                "the controller listener {first} (first of {}) is not among listeners",
                keys::CONTROLLER_LISTENER_NAMES.name
            )));
        }
        if !roles.broker
            && let Some(other) = listeners.iter().find(|l| !is_controller_listener(&l.name))
        {
            return Err(ConfigError(format!(
                "a controller-only node serves only its controller listeners, but listeners \
                 has {}",
                other.name
            )));
        }
    } else if is_voter {
        return Err(ConfigError(format!(
            "node.id {node_id} is among {} but process.roles does not include controller",
            keys::CONTROLLER_QUORUM_VOTERS.name
        )));
    } else if let Some(controller) = listeners.iter().find(|l| is_controller_listener(&l.name)) {
        return Err(ConfigError(format!(
            "a broker-only node does not serve the controller listener {}",
            controller.name
        )));
    }
    let inter_broker = if roles.broker {
        let name = match r.explicit(&keys::INTER_BROKER_LISTENER_NAME) {
            Some(name) => name.trim().to_string(),
            None => listeners
                .iter()
                .find(|l| !is_controller_listener(&l.name))
                .map(|l| l.name.clone())
                .ok_or_else(|| {
                    ConfigError("a broker needs a listener besides the controller's".into())
                })?,
        };
        if is_controller_listener(&name) || !listeners.iter().any(|l| l.name == name) {
            return Err(ConfigError(format!(
                "{} {name} must be one of listeners and not a controller listener",
                keys::INTER_BROKER_LISTENER_NAME.name
            )));
        }
        if let Some(advertised) = advertised
            && let Some(l) = advertised.iter().find(|l| is_controller_listener(&l.name))
        {
            return Err(ConfigError(format!(
                "advertised.listeners must not contain the controller listener {}",
                l.name
            )));
        }
        name
    } else {
        String::new()
    };
    timings(roles, controller_listener_names.clone(), inter_broker)
}
