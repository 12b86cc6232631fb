//! Cluster metadata: the image of brokers, topics, assignments, leaders, ISR and epochs
//! ([`image`]), the records that change it ([`records`]), the metadata log that makes changes
//! durable and replays them at start-up ([`store`]), and the controller through which every change
//! goes ([`controller`]). A single node is a quorum of one; the same records are what a replicated
//! quorum will carry.

pub mod controller;
pub mod image;
pub mod records;
pub mod store;

pub use controller::{ApiError, Controller, MetadataPublisher};
pub use image::{BrokerInfo, MetadataImage, PartitionInfo, TopicInfo};
pub use records::MetadataRecord;
pub use store::MetadataStore;
