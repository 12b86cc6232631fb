//! A byte range of an open file, handed from the log to the connection writer so that record bytes
//! go from the page cache to the socket (`sendfile`) without being copied through the broker.

use std::fs::File;
use std::sync::Arc;

/// A byte range of a file. The shared handle keeps the bytes readable even if the file is deleted
/// or renamed (a segment removed by retention) before they are sent.
#[derive(Debug, Clone)]
pub struct FileRegion {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u64,
}
