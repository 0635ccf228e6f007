//! `researchops bench queue`: no-op job throughput (enqueue first, then drain) for several worker
//! counts, enqueue-to-start latency with wake-ups (in-process notify / PostgreSQL NOTIFY) versus
//! polling only, on SQLite and — given a server — PostgreSQL, and pgqueuer on the same server with the
//! same workload, all in one run so the figures can be compared side by side.

use super::{machine, percentile};
use anyhow::Context;
use clap::Args;
use researchops_core::{JobOutcome, Lane, NewJob, Store, TenantId};
use researchops_store_postgres::{PgOptions, PgStore};
use researchops_store_sqlite::{Durability, SqliteStore};
use researchops_worker::{Worker, WorkerConfig};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `bench queue`.
#[derive(Args, Clone, Debug)]
pub struct QueueArgs {
    /// Worker counts to measure, comma separated (each worker is its own claim loop).
    #[arg(long, value_delimiter = ',', default_value = "4,8,16")]
    pub workers: Vec<usize>,
    /// Slots per worker: a claim takes at most this many jobs.
    #[arg(long, default_value_t = 100)]
    pub slots: usize,
    /// No-op jobs per throughput measurement.
    #[arg(long, default_value_t = 20_000)]
    pub jobs: usize,
    /// A PostgreSQL admin URL (e.g. postgres://postgres@127.0.0.1:5432/postgres): fresh databases are
    /// created beside it (with `psql`) for every measurement and dropped afterwards.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Also drain the same workload with pgqueuer (`bench/pgqueuer_drain.py`, needs `pip install pgqueuer asyncpg`).
    #[arg(long)]
    pub pgqueuer: bool,
    /// Jobs enqueued one at a time for the latency measurement.
    #[arg(long, default_value_t = 200)]
    pub probes: usize,
    /// Poll interval of the polling-only latency measurement (milliseconds).
    #[arg(long, default_value_t = 1000)]
    pub poll_ms: u64,
    /// Rounds of throughput measurements (each round measures every backend, worker count and
    /// pgqueuer once, side by side); the medians are reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rounds: u32,
}

/// A fresh PostgreSQL database, dropped on drop.
struct FreshDb {
    admin: String,
    name: String,
    url: String,
}

fn psql(admin: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args([admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .context("cannot run psql")?;
    anyhow::ensure!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

impl FreshDb {
    fn create(admin: &str) -> anyhow::Result<Self> {
        let name = format!("ro_bench_{}", uuid::Uuid::new_v4().simple());
        psql(admin, &format!("CREATE DATABASE \"{name}\""))?;
        let base = admin.split('?').next().unwrap_or(admin);
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        Ok(Self {
            admin: admin.to_string(),
            url: format!("{server}/{name}"),
            name,
        })
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        );
    }
}

/// A fresh store of one backend (and what keeps it alive).
enum Fresh {
    Sqlite(tempfile::TempDir),
    Postgres(FreshDb),
}

impl Fresh {
    fn new(postgres: Option<&str>) -> anyhow::Result<Self> {
        Ok(match postgres {
            None => Fresh::Sqlite(tempfile::tempdir()?),
            Some(admin) => Fresh::Postgres(FreshDb::create(admin)?),
        })
    }

    /// Another connection to the same database (another "node"); `listen`: receive NOTIFY wake-ups.
    async fn open(&self, listen: bool) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match self {
            Fresh::Sqlite(dir) => {
                Arc::new(SqliteStore::open(&dir.path().join("bench.db"), Durability::Normal).await?)
            }
            Fresh::Postgres(db) => Arc::new(
                PgStore::connect(
                    &db.url,
                    PgOptions {
                        max_connections: 20,
                        listen,
                        ..PgOptions::default()
                    },
                )
                .await?,
            ),
        })
    }
}

fn noop(tenant: TenantId, payload: serde_json::Value) -> NewJob {
    NewJob {
        payload,
        ..NewJob::noop(tenant, Lane::default())
    }
}

/// Jobs/s to drain `jobs` no-op jobs with `workers` worker loops.
async fn throughput(fresh: &Fresh, args: &QueueArgs, workers: usize) -> anyhow::Result<f64> {
    let store = fresh.open(true).await?;
    let tenants: Vec<TenantId> = (0..4).map(|_| TenantId::new()).collect();
    for chunk in (0..args.jobs).collect::<Vec<_>>().chunks(1000) {
        let jobs: Vec<NewJob> = chunk
            .iter()
            .map(|i| noop(tenants[i % tenants.len()], serde_json::json!({})))
            .collect();
        store.enqueue(&jobs).await?;
    }
    let queued = store.stats().await?.queued;
    anyhow::ensure!(
        queued == args.jobs as i64,
        "{queued} jobs queued, expected {}",
        args.jobs
    );
    let dir = tempfile::tempdir()?;
    let blobs = Arc::new(researchops_blobs::LocalBlobStore::open(dir.path())?);
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let config = WorkerConfig {
            slots: args.slots,
            poll: Duration::from_millis(50),
            ..WorkerConfig::default()
        };
        let worker = Worker::new(
            store.clone(),
            blobs.clone(),
            Default::default(),
            None,
            config,
        );
        handles.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    loop {
        let stats = store.stats().await?;
        if stats.queued == 0 && stats.running == 0 {
            break;
        }
        // Rarely: counting is itself a query on the database being measured.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    shutdown.cancel();
    for h in handles {
        let _ = h.await;
    }
    Ok(args.jobs as f64 / secs)
}

/// Probes enqueued and claimed before the measured ones: the first claims on a fresh store open pool
/// connections and prepare statements, which is start-up, not enqueue-to-start latency.
const WARMUP_PROBES: usize = 20;

/// Enqueue-to-start latencies (ms): jobs enqueued one at a time through one store instance, claimed
/// through another that waits for wake-ups (`wakeups`) or only polls every `poll_ms`. The first
/// [`WARMUP_PROBES`] are not counted.
async fn latency(fresh: &Fresh, args: &QueueArgs, wakeups: bool) -> anyhow::Result<Vec<f64>> {
    let producer = fresh.open(false).await?;
    // SQLite's wake-ups are in-process, so producer and consumer share one store (as in `serve`);
    // PostgreSQL's cross the database, so the consumer is a separate node that LISTENs (or not).
    let consumer = match fresh {
        Fresh::Sqlite(_) => producer.clone(),
        Fresh::Postgres(_) => fresh.open(wakeups).await?,
    };
    let tenant = TenantId::new();
    let origin = Instant::now();
    let poll = Duration::from_millis(args.poll_ms);
    let stop = CancellationToken::new();
    let claimer = {
        let consumer = consumer.clone();
        let stop = stop.clone();
        let probes = WARMUP_PROBES + args.probes;
        tokio::spawn(async move {
            // (enqueued at, latency), in ms since `origin`.
            let mut latencies: Vec<(f64, f64)> = Vec::with_capacity(probes);
            while latencies.len() < probes && !stop.is_cancelled() {
                let jobs = consumer
                    .claim(&Lane::default(), "bench", 16, Duration::from_secs(30))
                    .await
                    .unwrap_or_default();
                let now = origin.elapsed().as_secs_f64() * 1000.0;
                let mut done = Vec::new();
                for job in &jobs {
                    let t = job.payload["t"].as_f64().unwrap_or(now);
                    latencies.push((t, now - t));
                    done.push((job.lease, JobOutcome::Completed));
                }
                let _ = consumer.finish_jobs(&done).await;
                if jobs.is_empty() {
                    if wakeups {
                        tokio::select! {
                            () = consumer.wakeup().notified() => {}
                            () = tokio::time::sleep(poll) => {}
                        }
                    } else {
                        tokio::time::sleep(poll).await;
                    }
                }
            }
            latencies
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..WARMUP_PROBES + args.probes {
        let t = origin.elapsed().as_secs_f64() * 1000.0;
        producer
            .enqueue(&[noop(tenant, serde_json::json!({ "t": t }))])
            .await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let result = tokio::time::timeout(Duration::from_secs(60) + poll * 2, claimer).await;
    stop.cancel();
    let mut probes = result.context("latency probes were not all claimed within 60 s")??;
    probes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut latencies: Vec<f64> = probes
        .into_iter()
        .skip(WARMUP_PROBES)
        .map(|(_, ms)| ms)
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Fails fast (before minutes of measurements) when pgqueuer cannot run.
fn pgqueuer_available() -> anyhow::Result<()> {
    let out = Command::new("python3")
        .args(["-c", "import pgqueuer, asyncpg"])
        .output()
        .context("--pgqueuer needs python3 on PATH")?;
    anyhow::ensure!(
        out.status.success(),
        "--pgqueuer needs the Python packages pgqueuer and asyncpg: pip install pgqueuer asyncpg"
    );
    Ok(())
}

fn pgqueuer(admin: &str, jobs: usize) -> anyhow::Result<f64> {
    let db = FreshDb::create(admin)?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/pgqueuer_drain.py");
    let out = Command::new("python3")
        .args([script, &db.url, &jobs.to_string()])
        .output()
        .context("cannot run python3")?;
    anyhow::ensure!(
        out.status.success(),
        "pgqueuer failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value =
        serde_json::from_str(line.trim()).context("pgqueuer printed no result")?;
    value["jobs_per_second"]
        .as_f64()
        .context("no jobs_per_second")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 0.5)
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: QueueArgs) -> anyhow::Result<()> {
    println!(
        "bench queue: {} no-op jobs enqueued first then drained, {} slots per worker, median of {} \
         interleaved rounds, {}",
        args.jobs,
        args.slots,
        args.rounds,
        machine()
    );
    anyhow::ensure!(
        !args.pgqueuer || args.postgres.is_some(),
        "--pgqueuer needs --postgres"
    );
    if args.pgqueuer {
        pgqueuer_available()?;
    }
    let mut backends: Vec<(&str, Option<&str>)> = vec![("sqlite", None)];
    if let Some(admin) = args.postgres.as_deref() {
        backends.push(("postgres", Some(admin)));
    }
    // rates[backend][worker count]: one figure per round.
    let mut rates = vec![vec![Vec::new(); args.workers.len()]; backends.len()];
    let mut reference = Vec::new();
    for round in 1..=args.rounds {
        for (b, (_, postgres)) in backends.iter().enumerate() {
            for (w, &workers) in args.workers.iter().enumerate() {
                let fresh = Fresh::new(*postgres)?;
                rates[b][w].push(throughput(&fresh, &args, workers).await?);
            }
        }
        if let (true, Some(admin)) = (args.pgqueuer, args.postgres.as_deref()) {
            reference.push(pgqueuer(admin, args.jobs)?);
        }
        eprintln!("round {round}/{} done", args.rounds);
    }
    let mut best_postgres = 0f64;
    for (b, (name, _)) in backends.iter().enumerate() {
        for (w, &workers) in args.workers.iter().enumerate() {
            let all = &rates[b][w];
            let rate = median(all.clone());
            if *name == "postgres" {
                best_postgres = best_postgres.max(rate);
            }
            let each: Vec<String> = all.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "{name:>8}  {workers:>2} workers: {rate:>8.0} jobs/s  (rounds: {})",
                each.join(", ")
            );
        }
    }
    if !reference.is_empty() {
        let each: Vec<String> = reference.iter().map(|r| format!("{r:.0}")).collect();
        let reference = median(reference);
        println!(
            "pgqueuer  drain (asyncpg, batch 100): {reference:.0} jobs/s  (rounds: {})",
            each.join(", ")
        );
        println!(
            "ratio  researchops postgres (best median) / pgqueuer (median): {:.2}",
            best_postgres / reference
        );
    }
    for (name, postgres) in &backends {
        for wakeups in [true, false] {
            let fresh = Fresh::new(*postgres)?;
            let ms = latency(&fresh, &args, wakeups).await?;
            let how = if !wakeups {
                format!("polling every {} ms", args.poll_ms)
            } else if *name == "postgres" {
                "LISTEN/NOTIFY".to_string()
            } else {
                "in-process notify".to_string()
            };
            println!(
                "{name:>8}  enqueue→start ({how}): p50 {:.2} ms, p99 {:.2} ms (n={})",
                percentile(&ms, 0.5),
                percentile(&ms, 0.99),
                ms.len()
            );
        }
    }
    Ok(())
}
