//! Blobs in a local directory: `<root>/<aa>/<bb>/<sha256>`.
//!
//! Writes go to a temporary file that is fsynced and renamed into place, so a crash never leaves a
//! partial blob under its final name, and the same bytes are stored once.

use async_trait::async_trait;
use bytes::Bytes;
use researchops_core::{BlobInfo, BlobStore, StoreError};
use sha2::{Digest, Sha256};
use std::io::SeekFrom;
use std::ops::Range;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Blobs in a directory on the local file system.
#[derive(Clone, Debug)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Uses (and creates) `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root.join("tmp")).map_err(|e| {
            StoreError::Internal(format!(
                "cannot create blob directory {}: {e}",
                root.display()
            ))
        })?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn path_of(&self, sha256: &str) -> Result<PathBuf, StoreError> {
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(StoreError::NotFound);
        }
        Ok(self
            .root
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(sha256))
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StoreError::NotFound
    } else {
        StoreError::Internal(format!("{what} {}: {e}", path.display()))
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, bytes: Bytes) -> Result<BlobInfo, StoreError> {
        let sha256 = sha256_hex(&bytes);
        let path = self.path_of(&sha256)?;
        let info = BlobInfo {
            sha256,
            size_bytes: bytes.len() as u64,
        };
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(info);
        }
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err("cannot create", &dir, e))?;
        let tmp = self.root.join("tmp").join(uuid::Uuid::new_v4().to_string());
        let mut file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| io_err("cannot create", &tmp, e))?;
        file.write_all(&bytes)
            .await
            .map_err(|e| io_err("cannot write", &tmp, e))?;
        file.sync_all()
            .await
            .map_err(|e| io_err("cannot sync", &tmp, e))?;
        drop(file);
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| io_err("cannot move blob into", &path, e))?;
        Ok(info)
    }

    async fn get(&self, sha256: &str) -> Result<Bytes, StoreError> {
        let path = self.path_of(sha256)?;
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|e| io_err("cannot read", &path, e))
    }

    async fn get_range(&self, sha256: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let path = self.path_of(sha256)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| io_err("cannot open", &path, e))?;
        file.seek(SeekFrom::Start(range.start))
            .await
            .map_err(|e| io_err("cannot seek", &path, e))?;
        let mut buf = vec![0; range.end.saturating_sub(range.start) as usize];
        file.read_exact(&mut buf)
            .await
            .map_err(|e| io_err("cannot read", &path, e))?;
        Ok(Bytes::from(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stored_bytes_come_back_whole_and_by_range_under_their_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = LocalBlobStore::open(dir.path()).expect("open");
        let info = blobs
            .put(Bytes::from_static(b"hello evidence"))
            .await
            .expect("put");
        assert_eq!(info.sha256, sha256_hex(b"hello evidence"));
        assert_eq!(
            blobs.get(&info.sha256).await.expect("get"),
            Bytes::from_static(b"hello evidence")
        );
        assert_eq!(
            blobs.get_range(&info.sha256, 6..14).await.expect("range"),
            Bytes::from_static(b"evidence")
        );
        let again = blobs
            .put(Bytes::from_static(b"hello evidence"))
            .await
            .expect("put again");
        assert_eq!(again, info);
    }

    #[tokio::test]
    async fn unknown_or_malformed_keys_are_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = LocalBlobStore::open(dir.path()).expect("open");
        assert!(matches!(
            blobs.get(&"0".repeat(64)).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            blobs.get("../../etc/passwd").await,
            Err(StoreError::NotFound)
        ));
    }
}
