//! `researchops serve` (API + in-process workers) and `researchops worker` (workers only), with
//! graceful shutdown on SIGTERM / Ctrl-C: stop accepting and claiming, end SSE streams, let running
//! stages finish within the grace period and hand unfinished runs back to the queue.

use crate::app::{open_connectors, open_embedder, open_storage};
use crate::config::{CorpusArgs, HttpArgs, StorageArgs, WorkerArgs};
use anyhow::Context;
use clap::Args;
use researchops_http::{App, AppState, HttpConfig};
use researchops_worker::Worker;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// `serve` options.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub corpus: CorpusArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// In-process worker slots (default: number of cores; 0 = API only).
    #[arg(long, env = "RESEARCHOPS_WORKERS")]
    pub workers: Option<usize>,
}

/// `worker` options.
#[derive(Args, Clone, Debug)]
pub struct WorkerCommandArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub corpus: CorpusArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Worker slots (default: number of cores).
    #[arg(long, env = "RESEARCHOPS_WORKERS")]
    pub workers: Option<usize>,
}

/// A started server.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// Cancel to shut down gracefully.
    pub shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Waits until the server (and its workers) stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.handle.await.context("server task failed")?
    }
}

fn default_slots() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Binds and starts the server; returns once it accepts connections.
pub async fn start(args: ServeArgs) -> anyhow::Result<Server> {
    let slots = args.workers.unwrap_or_else(default_slots);
    let worker_config = args.worker.to_config(slots)?;
    anyhow::ensure!(
        args.http.sse_keepalive_seconds > 0.0 && args.http.sse_keepalive_seconds <= 15.0,
        "RESEARCHOPS_SSE_KEEPALIVE_SECONDS must be in (0, 15]"
    );
    let (edge, body_read_timeout) = args.http.to_edge()?;
    let storage = open_storage(&args.storage, worker_config.lease).await?;
    let connectors = open_connectors(&args.corpus, &args.storage.data_dir)?;
    let config = HttpConfig {
        dev_bypass_auth: args.http.dev_bypass_auth,
        enabled_sources: connectors.enabled(),
        max_body_bytes: args.http.max_body_bytes,
        body_read_timeout,
        sse_keepalive: Duration::from_secs_f64(args.http.sse_keepalive_seconds),
        max_attempts: args.worker.max_attempts,
    };
    researchops_http::check_bind_host_allowed(&config, &args.http.host)
        .map_err(|e| anyhow::anyhow!(e))?;
    let listener = tokio::net::TcpListener::bind((args.http.host.as_str(), args.http.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.http.host, args.http.port))?;
    let addr = listener.local_addr()?;
    researchops_http::check_bind_allowed(&config, &addr).map_err(|e| anyhow::anyhow!(e))?;
    let shutdown = CancellationToken::new();
    let app = App::new(
        storage.store.clone(),
        storage.blobs.clone(),
        config,
        shutdown.clone(),
    );
    let router = researchops_http::router(AppState::new(app));
    let embedder = if slots > 0 {
        open_embedder(&storage.store).await?
    } else {
        None
    };
    let workers = (slots > 0).then(|| {
        let worker = Worker::new(
            storage.store.clone(),
            storage.blobs.clone(),
            connectors.clone(),
            embedder,
            worker_config,
        );
        tokio::spawn(worker.run(shutdown.clone()))
    });
    tracing::info!(%addr, storage = %storage.description, workers = slots, sources = ?connectors.enabled(), max_connections = edge.max_connections, "researchops listening");
    // The accept loop sets TCP_NODELAY and enforces the header, idle and connection limits.
    let handle = tokio::spawn(researchops_http::serve(
        listener,
        router,
        edge,
        shutdown.clone(),
    ));
    let handle = tokio::spawn(async move {
        handle.await.context("HTTP server task failed")?;
        if let Some(workers) = workers {
            let _ = workers.await;
        }
        Ok(())
    });
    Ok(Server {
        addr,
        shutdown,
        handle,
    })
}

/// Runs `serve` until a signal arrives.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let server = start(args).await?;
    println!("researchops listening on http://{}", server.addr);
    let shutdown = server.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        shutdown.cancel();
    });
    server.wait().await
}

/// Runs `worker` until a signal arrives.
pub async fn run_worker(args: WorkerCommandArgs) -> anyhow::Result<()> {
    let slots = args.workers.unwrap_or_else(default_slots).max(1);
    let config = args.worker.to_config(slots)?;
    let storage = open_storage(&args.storage, config.lease).await?;
    let connectors = open_connectors(&args.corpus, &args.storage.data_dir)?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    tracing::info!(storage = %storage.description, workers = slots, "researchops worker started");
    println!("researchops worker started");
    let embedder = open_embedder(&storage.store).await?;
    Worker::new(storage.store, storage.blobs, connectors, embedder, config)
        .run(shutdown)
        .await;
    Ok(())
}

/// SIGTERM or Ctrl-C.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
