//! Consumer groups: the classic group protocol ([`state`]), the coordinator that runs every group
//! this broker coordinates with their committed offsets ([`coordinator`]), and their home in the
//! internal topic `__consumer_offsets` ([`store`], in Kafka's record format: [`records`]).

pub mod coordinator;
pub mod records;
pub mod state;
pub mod store;
