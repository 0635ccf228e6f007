//! `researchops bench …`: the performance figures the issues ask for, printed, never asserted.
//! Servers under test run as separate processes on loopback with a fresh data directory.

mod queue;
mod sse_idle;

use crate::process::{ServerProcess, read_sse};
use anyhow::Context;
use clap::{Args, Subcommand};
pub use queue::QueueArgs;
pub use sse_idle::{SseIdleArgs, SseIdleClientArgs};

use std::path::PathBuf;

use std::time::{Duration, Instant};

/// Benchmarks.
#[derive(Subcommand, Clone, Debug)]
pub enum BenchCommand {
    /// Run creation over HTTP: concurrent clients, no workers.
    Create(CreateArgs),
    /// Queue throughput with no-op jobs.
    Queue(QueueArgs),
    /// Latency from an event's commit to an SSE client.
    Sse(SseArgs),
    /// What N idle SSE streams cost a server: memory per stream, idle CPU, GET latency beside them.
    SseIdle(SseIdleArgs),
    /// Internal: holds `bench sse-idle`'s streams in a process of their own.
    #[command(hide = true)]
    SseIdleClient(SseIdleClientArgs),
}

/// `bench create`.
#[derive(Args, Clone, Debug)]
pub struct CreateArgs {
    /// Corpus enabling the `local` source (runs are only created, never executed).
    #[arg(long, env = "RESEARCHOPS_CORPUS")]
    pub corpus: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Measured seconds (after a 1 s warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
}

/// `bench sse`.
#[derive(Args, Clone, Debug)]
pub struct SseArgs {
    /// Corpus for the runs.
    #[arg(long, env = "RESEARCHOPS_CORPUS")]
    pub corpus: PathBuf,
    /// Runs to watch.
    #[arg(long, default_value_t = 30)]
    pub runs: usize,
}

/// Runs a benchmark and prints its figures.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Create(args) => create(args).await,
        BenchCommand::Queue(args) => queue::run(args).await,
        BenchCommand::Sse(args) => sse(args).await,
        BenchCommand::SseIdle(args) => sse_idle::run(args).await,
        BenchCommand::SseIdleClient(args) => sse_idle::client(args).await,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{label}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.9),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "{cores} cores, {} build",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

/// Creates the project the benchmark's runs go into.
async fn create_project(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let project: serde_json::Value = client
        .post(format!("{url}/projects"))
        .header("X-Dev-Roles", "researcher")
        .json(&serde_json::json!({ "name": "bench" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(project["id"].as_str().context("project id")?.to_string())
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let env = [
        ("RESEARCHOPS_WORKERS", "0".to_string()),
        ("RESEARCHOPS_CORPUS", args.corpus.display().to_string()),
    ];
    let server = ServerProcess::spawn(&exe, dir.path(), &env).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let project = create_project(&client, &server.url).await?;
    let url = format!("{}/projects/{project}/runs", server.url);
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + Duration::from_secs_f64(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut i = 0usize;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                i += 1;
                let body = serde_json::json!({ "question": format!("bench question {c} {i} on vitamin D"), "client_request_id": format!("bench-{c}-{i}") });
                let outcome = match client.post(&url).header("X-Dev-Roles", "researcher").json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 202 => Ok(()),
                    Ok(r) => Err(format!("status {}: {}", r.status(), r.text().await.unwrap_or_default())),
                    Err(e) => Err(e.to_string()),
                };
                let ok = outcome.is_ok();
                if let Err(e) = outcome
                    && errors == 0
                {
                    eprintln!("first error of client {c}: {e}");
                }
                if started >= warmup {
                    if ok {
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        all.extend(l);
        errors += e;
    }
    println!(
        "bench create: {} clients, {:.0} s measured, workers 0, SQLite, {}",
        args.clients,
        args.seconds,
        machine()
    );
    println!(
        "run creations: {:.0} /s ({} ok, {errors} errors)",
        all.len() as f64 / args.seconds,
        all.len()
    );
    summary("latency", all);
    server.kill().await
}

async fn sse(args: SseArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let env = [
        ("RESEARCHOPS_WORKERS", "2".to_string()),
        ("RESEARCHOPS_CORPUS", args.corpus.display().to_string()),
    ];
    let server = ServerProcess::spawn(&exe, dir.path(), &env).await?;
    let client = reqwest::Client::new();
    let project = create_project(&client, &server.url).await?;
    let questions = [
        "vitamin D and bone density",
        "insulin resistance in obesity",
        "tumor macrophages",
        "antibiotic resistance genes",
        "sleep and memory",
    ];
    let mut latencies = Vec::new();
    for i in 0..args.runs {
        let created: serde_json::Value = client
            .post(format!("{}/projects/{project}/runs", server.url))
            .header("X-Dev-Roles", "researcher")
            .json(&serde_json::json!({ "question": questions[i % questions.len()] }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let run = created["run_id"].as_str().context("run id")?.to_string();
        let response = client
            .get(format!("{}/runs/{run}/events", server.url))
            .header("Accept", "text/event-stream")
            .send()
            .await?
            .error_for_status()?;
        let connected = chrono::Utc::now();
        read_sse(response, |event| {
            if event.event == "done" {
                return true;
            }
            let received = chrono::Utc::now();
            let value = serde_json::from_str::<serde_json::Value>(&event.data).unwrap_or_default();
            let ts = value["ts"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            // Only events committed after we connected: replayed ones measure nothing.
            if let Some(ts) = ts.map(|t| t.with_timezone(&chrono::Utc))
                && ts > connected
            {
                latencies.push((received - ts).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
            false
        })
        .await?;
    }
    println!(
        "bench sse: {} runs on 2 in-process workers, SQLite, {}",
        args.runs,
        machine()
    );
    summary("commit → SSE client latency", latencies);
    server.kill().await
}
