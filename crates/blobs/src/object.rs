//! Blobs in S3-compatible object storage through `object_store`: keys `<prefix>/<aa>/<bb>/<sha256>`.
//! Credentials and endpoint come from the usual AWS variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP` for a local emulator);
//! they never appear in errors or logs.

use crate::local::sha256_hex;
use async_trait::async_trait;
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use researchops_core::{BlobInfo, BlobStore, StoreError};
use std::ops::Range;
use std::sync::Arc;

/// Blobs in an object store.
#[derive(Clone, Debug)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl ObjectBlobStore {
    /// An S3 bucket from `s3://bucket/optional/prefix`, configured from the environment.
    pub fn s3_from_env(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::Internal("an S3 blob URL starts with s3://".into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Internal(
                "the S3 blob URL names no bucket (s3://bucket/prefix)".into(),
            ));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| {
                StoreError::Internal(format!("S3 blob storage cannot be configured: {e}"))
            })?;
        Ok(Self::new(Arc::new(store), prefix))
    }

    /// Blobs under `prefix` in any object store.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            store,
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    fn key(&self, sha256: &str) -> Result<ObjectPath, StoreError> {
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(StoreError::NotFound);
        }
        let key = format!("{}/{}/{sha256}", &sha256[..2], &sha256[2..4]);
        Ok(if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        })
    }
}

fn store_err(e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        other => StoreError::Unavailable(format!("object storage: {other}")),
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(&self, bytes: Bytes) -> Result<BlobInfo, StoreError> {
        let sha256 = sha256_hex(&bytes);
        let key = self.key(&sha256)?;
        let info = BlobInfo {
            sha256,
            size_bytes: bytes.len() as u64,
        };
        match self.store.head(&key).await {
            Ok(_) => return Ok(info),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_err(e)),
        }
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .map_err(store_err)?;
        Ok(info)
    }

    async fn get(&self, sha256: &str) -> Result<Bytes, StoreError> {
        let key = self.key(sha256)?;
        self.store
            .get(&key)
            .await
            .map_err(store_err)?
            .bytes()
            .await
            .map_err(store_err)
    }

    async fn get_range(&self, sha256: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let key = self.key(sha256)?;
        self.store.get_range(&key, range).await.map_err(store_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn blobs_round_trip_whole_and_by_range_under_the_prefix() {
        let memory = Arc::new(InMemory::new());
        let blobs = ObjectBlobStore::new(memory.clone(), "/tenant-data/");
        let info = blobs
            .put(Bytes::from_static(b"evidence bytes"))
            .await
            .expect("put");
        assert_eq!(
            blobs.get(&info.sha256).await.expect("get"),
            Bytes::from_static(b"evidence bytes")
        );
        assert_eq!(
            blobs.get_range(&info.sha256, 9..14).await.expect("range"),
            Bytes::from_static(b"bytes")
        );
        let key = ObjectPath::from(format!(
            "tenant-data/{}/{}/{}",
            &info.sha256[..2],
            &info.sha256[2..4],
            info.sha256
        ));
        assert!(memory.head(&key).await.is_ok(), "stored under the prefix");
        assert!(matches!(
            blobs.get(&"0".repeat(64)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            blobs.get("../etc").await,
            Err(StoreError::NotFound)
        ));
    }
}
