//! Wire-level pieces between the server and the API handlers: request headers ([`header`]), the
//! table of served API versions ([`versions`]), guards that check untrusted request bodies before
//! the generic decoder runs ([`guard`], [`shapes`]), and response encoding as byte chunks and file
//! regions ([`response`], [`fetch_encoder`]). Nothing here does network I/O.

pub mod fetch_encoder;
pub mod guard;
pub mod header;
pub mod request;
pub mod response;
pub mod samples;
pub mod shapes;
pub mod versions;
