//! Who is on the other end of a connection, as far as request handlers may need to know: the
//! listener the client connected to, its address, and the principal it authenticated as. The
//! connection builds the session; handlers read it (JoinGroup records the client's host, and
//! authorization will check the principal).

use std::net::SocketAddr;
use std::sync::Arc;

/// An authenticated identity, as Kafka writes it: `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: Arc<str>,
    pub name: Arc<str>,
}

impl Principal {
    /// The principal of an unauthenticated (PLAINTEXT) connection.
    pub fn anonymous() -> Principal {
        Principal {
            kind: Arc::from("User"),
            name: Arc::from("ANONYMOUS"),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

/// One connection's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The listener's name (`PLAINTEXT`, `CONTROLLER` ...).
    pub listener: Arc<str>,
    pub peer: SocketAddr,
    pub principal: Principal,
}
