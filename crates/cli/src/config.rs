//! Configuration: every setting is a flag with an environment variable and a safe default (the README
//! lists them all). Parsing and checking happen here, once, at start-up.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Where data lives and which backend holds it.
#[derive(Args, Clone, Debug)]
pub struct StorageArgs {
    /// Data directory: the SQLite database, blobs and search indexes.
    #[arg(
        long,
        env = "RESEARCHOPS_DATA_DIR",
        default_value = "./researchops-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL; unset means SQLite in the data directory. `sqlite://PATH` is accepted.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// SQLite durability: `normal` (survives process crashes) or `full` (fsync every commit).
    #[arg(long, env = "RESEARCHOPS_SQLITE_SYNC", default_value = "normal", value_parser = ["normal", "full"])]
    pub sqlite_sync: String,
    /// Blob storage: unset = `<data dir>/blobs`; `s3://bucket/prefix` (with the usual AWS_* variables)
    /// or a directory.
    #[arg(long, env = "RESEARCHOPS_BLOB_URL")]
    pub blob_url: Option<String>,
    /// PostgreSQL connections per process.
    #[arg(long, env = "RESEARCHOPS_PG_POOL_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pg_pool_size: u32,
}

/// The local corpus connector.
#[derive(Args, Clone, Debug)]
pub struct CorpusArgs {
    /// BEIR-style corpus.jsonl or a folder of .md/.txt files; enables the `local` source.
    #[arg(long = "corpus", env = "RESEARCHOPS_CORPUS")]
    pub corpus: Option<PathBuf>,
}

/// Worker tunables.
#[derive(Args, Clone, Debug)]
pub struct WorkerArgs {
    /// Fallback poll interval when no wake-up arrives (seconds).
    #[arg(long, env = "WORKER_POLL_SECONDS", default_value_t = 1.0)]
    pub poll_seconds: f64,
    /// Lease length (seconds); a worker silent this long loses its job to the rescuer.
    #[arg(long, env = "RESEARCHOPS_LEASE_SECONDS", default_value_t = 30.0)]
    pub lease_seconds: f64,
    /// Heartbeat interval (seconds); keep well under the lease.
    #[arg(long, env = "RESEARCHOPS_HEARTBEAT_SECONDS", default_value_t = 10.0)]
    pub heartbeat_seconds: f64,
    /// How often expired leases are rescued (seconds).
    #[arg(long, env = "RESEARCHOPS_RESCUE_SECONDS", default_value_t = 5.0)]
    pub rescue_seconds: f64,
    /// Time limit per stage (seconds).
    #[arg(
        long,
        env = "RESEARCHOPS_STAGE_TIMEOUT_SECONDS",
        default_value_t = 600.0
    )]
    pub stage_timeout_seconds: f64,
    /// Time limit per run (seconds).
    #[arg(
        long,
        env = "RESEARCHOPS_RUN_TIMEOUT_SECONDS",
        default_value_t = 3600.0
    )]
    pub run_timeout_seconds: f64,
    /// Attempts per run job before it fails for good (crashes and retryable errors count).
    #[arg(long, env = "RESEARCHOPS_MAX_ATTEMPTS", default_value_t = 5)]
    pub max_attempts: i32,
    /// First retry delay after a retryable error (seconds); doubles per attempt.
    #[arg(long, env = "RESEARCHOPS_RETRY_BASE_SECONDS", default_value_t = 2.0)]
    pub retry_base_seconds: f64,
    /// How long shutdown waits for running stages (seconds).
    #[arg(
        long,
        env = "RESEARCHOPS_SHUTDOWN_GRACE_SECONDS",
        default_value_t = 20.0
    )]
    pub shutdown_grace_seconds: f64,
    /// Enables the test hooks below (`1`/`true`); without it, setting one is a start-up error.
    #[arg(long, env = "RESEARCHOPS_TEST_HOOKS", default_value_t = false, hide = true,
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub test_hooks: bool,
    /// Test hook: stages wait before their work, `MILLISECONDS` (every stage) or `STAGE=MILLISECONDS`
    /// (docs/ARCHITECTURE.md, "Test hooks").
    #[arg(long, env = "RESEARCHOPS_TEST_STAGE_DELAY", hide = true)]
    pub test_stage_delay: Option<researchops_worker::StageDelay>,
}

impl WorkerArgs {
    /// Checks ranges; returns the worker configuration for `slots`.
    pub fn to_config(&self, slots: usize) -> anyhow::Result<researchops_worker::WorkerConfig> {
        let secs = seconds;
        let lease = secs("RESEARCHOPS_LEASE_SECONDS", self.lease_seconds)?;
        let heartbeat = secs("RESEARCHOPS_HEARTBEAT_SECONDS", self.heartbeat_seconds)?;
        anyhow::ensure!(
            heartbeat < lease,
            "RESEARCHOPS_HEARTBEAT_SECONDS ({}) must be shorter than RESEARCHOPS_LEASE_SECONDS ({})",
            self.heartbeat_seconds,
            self.lease_seconds
        );
        anyhow::ensure!(
            (1..=100).contains(&self.max_attempts),
            "RESEARCHOPS_MAX_ATTEMPTS must be between 1 and 100"
        );
        Ok(researchops_worker::WorkerConfig {
            slots,
            lease,
            heartbeat,
            poll: secs("WORKER_POLL_SECONDS", self.poll_seconds)?,
            rescue_interval: secs("RESEARCHOPS_RESCUE_SECONDS", self.rescue_seconds)?,
            stage_timeout: secs(
                "RESEARCHOPS_STAGE_TIMEOUT_SECONDS",
                self.stage_timeout_seconds,
            )?,
            run_timeout: secs("RESEARCHOPS_RUN_TIMEOUT_SECONDS", self.run_timeout_seconds)?,
            retry_base: secs("RESEARCHOPS_RETRY_BASE_SECONDS", self.retry_base_seconds)?,
            retry_max: Duration::from_secs(300),
            shutdown_grace: secs(
                "RESEARCHOPS_SHUTDOWN_GRACE_SECONDS",
                self.shutdown_grace_seconds,
            )?,
            owner: researchops_worker::default_owner(),
            lane: researchops_core::Lane::default(),
            stage_delay: self.test_hook(self.test_stage_delay, "RESEARCHOPS_TEST_STAGE_DELAY")?,
        })
    }

    /// A test hook's value, refused unless `RESEARCHOPS_TEST_HOOKS` enables test hooks.
    fn test_hook<T>(&self, value: Option<T>, name: &str) -> anyhow::Result<Option<T>> {
        anyhow::ensure!(
            value.is_none() || self.test_hooks,
            "{name} is a test hook; it is honoured only with RESEARCHOPS_TEST_HOOKS=1"
        );
        if value.is_some() {
            tracing::warn!("test hook {name} is enabled: this server is not fit for production");
        }
        Ok(value)
    }
}

/// HTTP settings.
#[derive(Args, Clone, Debug)]
pub struct HttpArgs {
    /// Address to bind.
    #[arg(long, env = "API_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 = any free port).
    #[arg(long, env = "API_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Development identity from X-Dev-* headers (loopback binds only).
    #[arg(long, env = "DEV_BYPASS_AUTH", default_value_t = false, action = clap::ArgAction::Set)]
    pub dev_bypass_auth: bool,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "RESEARCHOPS_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// SSE keep-alive interval (seconds, at most 15).
    #[arg(
        long,
        env = "RESEARCHOPS_SSE_KEEPALIVE_SECONDS",
        default_value_t = 15.0
    )]
    pub sse_keepalive_seconds: f64,
    /// Time to receive a request's headers (seconds): from the accept for a connection's first
    /// request, from its first byte for later ones; the connection is closed otherwise.
    #[arg(
        long,
        env = "RESEARCHOPS_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10.0
    )]
    pub header_read_timeout_seconds: f64,
    /// Time to receive a whole request body once its headers arrived (seconds); `408` and close
    /// otherwise.
    #[arg(
        long,
        env = "RESEARCHOPS_BODY_READ_TIMEOUT_SECONDS",
        default_value_t = 30.0
    )]
    pub body_read_timeout_seconds: f64,
    /// Time a keep-alive connection with no request in flight stays open (seconds). Open SSE
    /// streams are requests in flight.
    #[arg(long, env = "RESEARCHOPS_IDLE_TIMEOUT_SECONDS", default_value_t = 75.0)]
    pub idle_timeout_seconds: f64,
    /// Time a response write may wait for the client to take a byte (seconds): a client that
    /// stops reading is disconnected, SSE streams included; a slow reader is not.
    #[arg(
        long,
        env = "RESEARCHOPS_WRITE_TIMEOUT_SECONDS",
        default_value_t = 60.0
    )]
    pub write_timeout_seconds: f64,
    /// Connections served at once; beyond, `503` with `Retry-After`. Default: the open-file limit
    /// minus 512, at most 20000.
    #[arg(long, env = "RESEARCHOPS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections: Option<u64>,
}

impl HttpArgs {
    /// Checks ranges; returns the connection limits and the body-read timeout.
    pub fn to_edge(&self) -> anyhow::Result<(researchops_http::EdgeConfig, Duration)> {
        let header_read_timeout = seconds(
            "RESEARCHOPS_HEADER_READ_TIMEOUT_SECONDS",
            self.header_read_timeout_seconds,
        )?;
        let body_read_timeout = seconds(
            "RESEARCHOPS_BODY_READ_TIMEOUT_SECONDS",
            self.body_read_timeout_seconds,
        )?;
        let idle_timeout = seconds(
            "RESEARCHOPS_IDLE_TIMEOUT_SECONDS",
            self.idle_timeout_seconds,
        )?;
        let write_timeout = seconds(
            "RESEARCHOPS_WRITE_TIMEOUT_SECONDS",
            self.write_timeout_seconds,
        )?;
        let max_connections = match self.max_connections {
            Some(n) => usize::try_from(n)?,
            None => researchops_http::server::default_max_connections(),
        };
        let edge = researchops_http::EdgeConfig {
            header_read_timeout,
            idle_timeout,
            write_timeout,
            max_connections,
        };
        Ok((edge, body_read_timeout))
    }
}

/// A positive, finite number of seconds named `name`.
fn seconds(name: &str, v: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && v > 0.0 && v < 1e7,
        "{name} must be a positive number of seconds (got {v})"
    );
    Ok(Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        worker: WorkerArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<researchops_worker::WorkerConfig> {
        let cli = Cli::try_parse_from(std::iter::once("test").chain(args.iter().copied()))?;
        cli.worker.to_config(1)
    }

    #[test]
    fn a_test_hook_is_refused_unless_test_hooks_are_enabled() {
        let refused = config(&["--test-stage-delay", "ingest=100"]).expect_err("refused");
        assert!(
            refused.to_string().contains("RESEARCHOPS_TEST_HOOKS=1"),
            "{refused}"
        );
        let enabled = config(&["--test-hooks", "1", "--test-stage-delay", "ingest=100"])
            .map_err(|e| e.to_string());
        assert_eq!(
            enabled.map(|c| c.stage_delay),
            Ok(Some(researchops_worker::StageDelay {
                stage: Some(researchops_core::Stage::Ingest),
                delay: Duration::from_millis(100),
            }))
        );
        assert!(config(&["--test-hooks", "1", "--test-stage-delay", "later"]).is_err());
        assert_eq!(config(&[]).map(|c| c.stage_delay).ok(), Some(None));
    }
}
