//! Record data shared by the layers that store it and the layers that send it: the v2 record batch
//! ([`batch`], with the codecs in [`compression`]) and file regions ([`FileRegion`]) that carry
//! stored batches to the socket. Neither does any I/O of its own beyond reading a region's file.

pub mod batch;
pub mod compression;
mod region;

pub use region::FileRegion;
