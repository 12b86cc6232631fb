//! Consumer groups: the classic group protocol and committed offsets.

pub mod state;
