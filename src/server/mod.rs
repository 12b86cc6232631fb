//! The network side: listeners with a connection limit, one task per connection
//! ([`connection`]) over any byte stream ([`transport`]), frame reading ([`frame`]) and response
//! writing ([`writer`], `sendfile` on plain sockets), and the broker's start-up, storage
//! supervision and shutdown ([`broker`]).

pub mod broker;
pub mod connection;
pub mod frame;
pub mod transport;
pub mod writer;

pub use broker::{Broker, start, start_with};
