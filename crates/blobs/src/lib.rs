//! Content-addressed blob storage (snapshot bytes, artifacts), keyed by SHA-256 so the same bytes are
//! stored once: a local directory by default ([`LocalBlobStore`]), or S3-compatible object storage
//! ([`ObjectBlobStore`]) when several machines must share blobs. [`open`] picks one from a URL.

mod local;
mod object;

pub use local::{LocalBlobStore, sha256_hex};
pub use object::ObjectBlobStore;

use researchops_core::{BlobStore, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Where blobs live.
#[derive(Debug, PartialEq, Eq)]
pub enum BlobLocation {
    /// A directory on this machine.
    Local(std::path::PathBuf),
    /// An S3-compatible bucket (`s3://bucket/optional/prefix`).
    S3(String),
}

/// `RESEARCHOPS_BLOB_URL` (unset: `<data dir>/blobs`): `s3://…`, `file:///path` or a plain path.
pub fn location(url: Option<&str>, data_dir: &Path) -> Result<BlobLocation, StoreError> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(BlobLocation::Local(data_dir.join("blobs"))),
        Some(url) if url.starts_with("s3://") => Ok(BlobLocation::S3(url.to_string())),
        Some(url) if url.starts_with("file://") => Ok(BlobLocation::Local(
            url.trim_start_matches("file://").into(),
        )),
        Some(url) if url.contains("://") => Err(StoreError::Internal(format!(
            "RESEARCHOPS_BLOB_URL has an unsupported scheme ({}); use s3://bucket/prefix or a directory",
            url.split("://").next().unwrap_or_default()
        ))),
        Some(path) => Ok(BlobLocation::Local(path.into())),
    }
}

/// Opens the blob store at `location`.
pub fn open(location: &BlobLocation) -> Result<Arc<dyn BlobStore>, StoreError> {
    Ok(match location {
        BlobLocation::Local(dir) => Arc::new(LocalBlobStore::open(dir)?),
        BlobLocation::S3(url) => Arc::new(ObjectBlobStore::s3_from_env(url)?),
    })
}
