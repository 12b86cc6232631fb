//! Cluster metadata: the image of brokers, topics, assignments, leaders, ISR and epochs
//! ([`image`]), the records that change it ([`records`]), the metadata quorum that replicates and
//! commits them ([`quorum`]), the publishing of each committed image to this node's partitions
//! ([`publishing`]), and the controller through which every change goes ([`controller`]). A single
//! node is a quorum of one voter.

pub mod controller;
pub mod election;
pub mod formation;
pub mod image;
pub mod lifecycle;
pub mod link;
pub mod placement;
pub mod publishing;
pub mod quorum;
pub mod records;
pub mod rpc;

pub use controller::{ApiError, Controller, MetadataPublisher};
pub use image::{BrokerInfo, MetadataImage, PartitionInfo, TopicInfo};
pub use publishing::Publishing;
pub use quorum::Quorum;
pub use records::MetadataRecord;
