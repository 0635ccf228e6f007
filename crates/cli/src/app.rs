//! Wiring: choose the backend from the configuration, open blobs and the local corpus.

use crate::config::{CorpusArgs, StorageArgs};
use anyhow::Context;
use researchops_blobs::LocalBlobStore;
use researchops_core::{BlobStore, Store};
use researchops_pipeline::Connectors;
use researchops_sources::LocalSearch;
use researchops_store_sqlite::{Durability, SqliteStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The opened ports.
#[derive(Clone)]
pub struct Storage {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Blobs.
    pub blobs: Arc<dyn BlobStore>,
    /// A human description of where data lives (no secrets).
    pub description: String,
}

/// Which database a URL selects.
#[derive(Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite at this path.
    Sqlite(PathBuf),
}

/// Resolves `DATABASE_URL` (unset: SQLite in the data directory).
pub fn backend(args: &StorageArgs) -> anyhow::Result<Backend> {
    match args
        .database_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None => Ok(Backend::Sqlite(args.data_dir.join("researchops.db"))),
        Some(url) if url.starts_with("sqlite://") || url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            anyhow::ensure!(
                !path.is_empty(),
                "DATABASE_URL `sqlite://` needs a file path"
            );
            Ok(Backend::Sqlite(PathBuf::from(path)))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            anyhow::bail!(
                "PostgreSQL is not available in this build yet; unset DATABASE_URL to use the embedded SQLite store"
            )
        }
        Some(url) => {
            let scheme = url.split(':').next().unwrap_or_default();
            anyhow::bail!(
                "DATABASE_URL has an unsupported scheme `{scheme}` (use sqlite://PATH, or unset it)"
            )
        }
    }
}

/// Opens the database (applying migrations) and the blob directory.
pub async fn open_storage(args: &StorageArgs) -> anyhow::Result<Storage> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let blobs = LocalBlobStore::open(&args.data_dir.join("blobs"))?;
    let durability = if args.sqlite_sync == "full" {
        Durability::Full
    } else {
        Durability::Normal
    };
    match backend(args)? {
        Backend::Sqlite(path) => {
            let store = SqliteStore::open(&path, durability)
                .await
                .with_context(|| format!("cannot open the database {}", path.display()))?;
            Ok(Storage {
                store: Arc::new(store),
                blobs: Arc::new(blobs),
                description: format!("sqlite {}", path.display()),
            })
        }
    }
}

/// Opens the local corpus (building its search index once, under the data directory).
pub fn open_connectors(corpus: &CorpusArgs, data_dir: &Path) -> anyhow::Result<Connectors> {
    let Some(path) = &corpus.corpus else {
        return Ok(Connectors::default());
    };
    let started = std::time::Instant::now();
    let local =
        LocalSearch::open(path, &data_dir.join("indexes")).map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(
        corpus = %path.display(),
        documents = local.corpus().len(),
        index_built = local.index().was_built(),
        duration_ms = started.elapsed().as_millis() as u64,
        "local corpus ready"
    );
    Ok(Connectors {
        local: Some(Arc::new(local)),
    })
}
