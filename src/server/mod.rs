//! The network side: listeners with a connection limit, one task per connection
//! ([`connection`]), frame reading ([`frame`]) and response writing with `sendfile`
//! ([`writer`]), and the broker's start-up and graceful shutdown ([`broker`]).

pub mod broker;
pub mod connection;
pub mod frame;
pub mod writer;

pub use broker::{Broker, start};
