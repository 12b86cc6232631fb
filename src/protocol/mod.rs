//! Wire-level pieces shared by the server and the API handlers: guards that check untrusted request
//! bodies before the generic decoder runs, and the table of request shapes they walk.

pub mod guard;
pub mod shapes;
