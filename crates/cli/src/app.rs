//! Wiring: choose the backend from the configuration, open blobs and the connectors (today the local
//! corpus).

use crate::config::{CorpusArgs, StorageArgs};
use anyhow::Context;
use researchops_core::{BlobStore, Connector, Connectors, Embedder, Store};
use researchops_search::embed::{Embedder as Model, MODEL_DIR_ENV};
use researchops_sources::{LocalConnector, LocalSearch};
use researchops_store_postgres::{PgOptions, PgStore};
use researchops_store_sqlite::{Durability, SqliteStore};
use researchops_worker::{CachedEmbedder, Worker, WorkerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    /// PostgreSQL at this URL.
    Postgres(String),
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
            Ok(Backend::Postgres(url.to_string()))
        }
        Some(url) => {
            let scheme = url.split(':').next().unwrap_or_default();
            anyhow::bail!(
                "DATABASE_URL has an unsupported scheme `{scheme}` (use sqlite://PATH, or unset it)"
            )
        }
    }
}

/// Opens the database (applying migrations) and the blob directory. `lease`: the workers' lease; on
/// PostgreSQL a session left idle inside a transaction longer than that (a frozen process) is ended
/// by the server so its locks cannot keep the rescuer away from its job.
pub async fn open_storage(args: &StorageArgs, lease: Duration) -> anyhow::Result<Storage> {
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            args.data_dir.display()
        )
    })?;
    let blob_location = researchops_blobs::location(args.blob_url.as_deref(), &args.data_dir)?;
    let blobs = researchops_blobs::open(&blob_location)?;
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
                blobs,
                description: format!("sqlite {}", path.display()),
            })
        }
        Backend::Postgres(url) => {
            let options = PgOptions {
                max_connections: args.pg_pool_size,
                listen: true,
                idle_transaction_timeout: lease,
            };
            let description = format!("postgres {}", redact(&url));
            let store = PgStore::connect(&url, options)
                .await
                .with_context(|| format!("cannot open the database ({description})"))?;
            if let researchops_blobs::BlobLocation::Local(dir) = &blob_location {
                tracing::warn!(
                    blobs = %dir.display(),
                    "PostgreSQL with a local blob directory: every API node and worker must share this \
                     directory (or set RESEARCHOPS_BLOB_URL=s3://bucket/prefix)"
                );
            }
            Ok(Storage {
                store: Arc::new(store),
                blobs,
                description,
            })
        }
    }
}

/// `postgres://host:port/db` without user, password or parameters — what may be logged.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = host.split('?').next().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// Opens the enabled connectors: the local corpus when one is configured (building its search index
/// once, under the data directory). Later sources (OpenAlex, arXiv, URLs) join the same registry.
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
    let local: Arc<dyn Connector> = Arc::new(LocalConnector::new(Arc::new(local)));
    Ok(Connectors::new([local]))
}

/// The sentence model named by `RESEARCHOPS_EMBED_MODEL_DIR`, its vectors cached in `store`; `None`
/// when the variable is unset or empty (the pipeline then works lexically). A variable naming a
/// missing or unusable directory is an error, so a typo cannot silently turn embeddings off.
pub async fn open_embedder(store: &Arc<dyn Store>) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let started = std::time::Instant::now();
    let model = tokio::task::spawn_blocking(Model::from_env)
        .await
        .context("the model loading task failed")?
        .with_context(|| format!("{MODEL_DIR_ENV} names an unusable model"))?;
    Ok(model.map(|model| {
        tracing::info!(
            model = model.model_id(),
            dim = model.dim(),
            duration_ms = started.elapsed().as_millis() as u64,
            "embedding model loaded"
        );
        Arc::new(CachedEmbedder::new(Arc::new(model), store.clone())) as Arc<dyn Embedder>
    }))
}

/// A worker running inside a command that waits for its own runs (`research`, `eval claims`),
/// claiming from `config.lane` until [`EmbeddedWorker::stop`].
pub struct EmbeddedWorker {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl EmbeddedWorker {
    /// Loads the embedding model when one is configured ([`open_embedder`]) and starts the worker.
    pub async fn start(
        storage: &Storage,
        connectors: Connectors,
        config: WorkerConfig,
    ) -> anyhow::Result<Self> {
        let embedder = open_embedder(&storage.store).await?;
        let worker = Worker::new(
            storage.store.clone(),
            storage.blobs.clone(),
            connectors,
            embedder,
            config,
        );
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(worker.run(shutdown.clone()));
        Ok(Self { shutdown, task })
    }

    /// Stops the worker and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_logged_without_credentials() {
        assert_eq!(
            redact("postgres://user:s3cret@db.internal:5432/ro?sslmode=require"),
            "postgres://db.internal:5432/ro"
        );
        assert_eq!(
            redact("postgresql://127.0.0.1/test"),
            "postgresql://127.0.0.1/test"
        );
    }
}
