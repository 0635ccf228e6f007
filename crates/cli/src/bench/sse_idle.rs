//! `bench sse-idle`: what N idle SSE streams on one queued run cost a server — memory per stream,
//! idle CPU, and the latency of other requests (`GET /runs/{id}`) with and without the streams.
//!
//! The streams are held by a separate process (`bench sse-idle-client`, hidden) so the client's file
//! descriptors and CPU are not the server's, and — with `--url` — so an older build can be measured
//! the same way. Memory and CPU come from `/proc/<pid>` of the server (Linux): RSS from `status`,
//! utime + stime from `stat`. The streams are plain HTTP/1.1 over TCP (no TLS), opened with bounded
//! concurrency and read (keep-alive comments) until the bench ends.

use super::{create_project, machine, percentile};
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{ChildStdout, Command};
use tokio::sync::Semaphore;

/// File descriptors kept beyond the streams (pools, stdio, the database).
const FD_HEADROOM: u64 = 256;

/// `bench sse-idle`.
#[derive(Args, Clone, Debug)]
pub struct SseIdleArgs {
    /// Idle streams to open on the run.
    #[arg(long, default_value_t = 1000)]
    pub streams: usize,
    /// Measure an already running server (`http://host:port`, development identity on, started with
    /// `--workers 0` so the bench's run stays queued) instead of starting one.
    #[arg(long)]
    pub url: Option<String>,
    /// With `--url`: the server's process id, for memory and CPU (same machine). Without it only the
    /// latencies are measured.
    #[arg(long, requires = "url")]
    pub server_pid: Option<u32>,
    /// Corpus enabling the `local` source on the server the bench starts (its run is never executed).
    #[arg(long, env = "RESEARCHOPS_CORPUS")]
    pub corpus: Option<PathBuf>,
    /// Seconds of each idle-CPU window (without and with the streams); the default covers two
    /// keep-alive intervals of 15 s, so their cost is included.
    #[arg(long, default_value_t = 30.0)]
    pub seconds: f64,
    /// `GET /runs/{id}` requests per latency measurement (one client, one after another, paced evenly
    /// over `--latency-seconds`).
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Seconds each latency measurement is spread over (default: just over one keep-alive interval,
    /// so the samples see the keep-alive writes as often as they happen).
    #[arg(long, default_value_t = 16.0)]
    pub latency_seconds: f64,
    /// Streams being connected at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
}

/// `bench sse-idle-client` (internal): opens the streams, reports, and holds them until stdin closes.
#[derive(Args, Clone, Debug)]
pub struct SseIdleClientArgs {
    /// `http://host:port`.
    #[arg(long)]
    pub url: String,
    /// The run whose events to stream.
    #[arg(long)]
    pub run: String,
    /// Streams to open.
    #[arg(long)]
    pub streams: usize,
    /// Streams being connected at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
}

/// Runs `bench sse-idle`.
pub async fn run(args: SseIdleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.streams > 0, "--streams must be at least 1");
    anyhow::ensure!(args.requests > 0, "--requests must be at least 1");
    anyhow::ensure!(
        args.seconds > 0.0 && args.seconds.is_finite(),
        "--seconds must be positive"
    );
    anyhow::ensure!(
        args.latency_seconds >= 0.0 && args.latency_seconds.is_finite(),
        "--latency-seconds must be zero or positive"
    );
    let spread = Duration::from_secs_f64(args.latency_seconds);
    // A server started here inherits the raised limit.
    let nofile = raise_nofile_limit(args.streams as u64 + FD_HEADROOM)?;
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    let (server, url, pid) = match &args.url {
        Some(url) => (None, url.trim_end_matches('/').to_string(), args.server_pid),
        None => {
            let corpus = args.corpus.as_ref().context(
                "bench sse-idle needs --corpus (or RESEARCHOPS_CORPUS) to start its server, or --url",
            )?;
            let env = [
                ("RESEARCHOPS_WORKERS", "0".to_string()),
                ("RESEARCHOPS_CORPUS", corpus.display().to_string()),
            ];
            let server = crate::process::ServerProcess::spawn(&exe, dir.path(), &env).await?;
            let url = server.url.clone();
            let pid = server.child.id();
            (Some(server), url, pid)
        }
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let project = create_project(&http, &url).await?;
    let created: serde_json::Value = http
        .post(format!("{url}/projects/{project}/runs"))
        .header("X-Dev-Roles", "researcher")
        .json(&serde_json::json!({ "question": "idle streams on vitamin D" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let run = created["run_id"].as_str().context("run id")?.to_string();
    let run_url = format!("{url}/runs/{run}");

    println!(
        "bench sse-idle: {} streams on one queued run, {}, client nofile limit {nofile}",
        args.streams,
        machine()
    );
    match (&server, pid) {
        (Some(_), Some(pid)) => println!("server: started here (workers 0, SQLite), pid {pid}"),
        (None, Some(pid)) => println!("server: {url}, pid {pid}"),
        (_, None) => println!("server: {url} (no --server-pid: memory and CPU not measured)"),
    }
    if let Some(limit) = pid.and_then(server_nofile_limit)
        && limit < args.streams as u64 + 16
    {
        println!("warning: the server may open only {limit} files; some streams will be refused");
    }

    // Without streams.
    latencies(&http, &run_url, 100, Duration::ZERO).await?;
    let quiet = latencies(&http, &run_url, args.requests, spread).await?;
    let quiet_cpu = match pid {
        Some(pid) => Some(cpu_share(pid, args.seconds).await?),
        None => None,
    };
    let rss_before = pid.and_then(rss_kib);

    // With streams.
    let mut client = StreamClient::spawn(&exe, &url, &run, &args).await?;
    let ready = client.ready().await?;
    println!(
        "opened {} streams in {:.2} s ({} failed{})",
        ready.opened,
        ready.seconds,
        ready.failed,
        ready
            .first_error
            .as_deref()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default()
    );
    // Let the streams' first reads and writes settle before measuring an idle server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = pid.and_then(rss_kib);
    let busy_cpu = match pid {
        Some(pid) => Some(cpu_share(pid, args.seconds).await?),
        None => None,
    };
    let loaded = latencies(&http, &run_url, args.requests, spread).await?;
    let still_open = client.open_now().await?;
    client.stop().await;

    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        let per_stream = (after as f64 - before as f64) / ready.opened.max(1) as f64;
        println!(
            "memory: server RSS {:.1} MiB without streams, {:.1} MiB with them: {per_stream:.1} KiB per stream",
            before as f64 / 1024.0,
            after as f64 / 1024.0
        );
    }
    if let (Some(quiet), Some(busy)) = (quiet_cpu, busy_cpu) {
        println!(
            "idle CPU (server utime+stime over {:.0} s): {quiet:.2}% of one core without streams, {busy:.2}% with {} streams",
            args.seconds, ready.opened
        );
    }
    let (q50, q99) = quiet;
    let (l50, l99) = loaded;
    println!(
        "GET /runs/{{id}} without streams: n={} over {:.0} s p50={q50:.2} ms p99={q99:.2} ms",
        args.requests, args.latency_seconds
    );
    println!(
        "GET /runs/{{id}} with {} streams:  n={} over {:.0} s p50={l50:.2} ms p99={l99:.2} ms",
        ready.opened, args.requests, args.latency_seconds
    );
    println!(
        "p99 with / without streams: {:.2}x; {still_open} of {} streams still open at the end",
        l99 / q99,
        ready.opened
    );
    if let Some(server) = server {
        server.kill().await?;
    }
    Ok(())
}

/// p50 and p99 in milliseconds of `n` sequential `GET`s, started evenly over `spread` (a request
/// that is due while the previous one still runs starts right after it).
async fn latencies(
    http: &reqwest::Client,
    url: &str,
    n: usize,
    spread: Duration,
) -> anyhow::Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(n);
    let first = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(first + spread.mul_f64(i as f64 / n as f64)).await;
        let started = Instant::now();
        let response = http.get(url).header("X-Dev-Roles", "viewer").send().await?;
        let status = response.status();
        response.bytes().await?;
        if !status.is_success() {
            bail!("GET {url} answered {status}");
        }
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((percentile(&ms, 0.5), percentile(&ms, 0.99)))
}

/// The process's CPU time over `seconds`, as a percentage of one core.
async fn cpu_share(pid: u32, seconds: f64) -> anyhow::Result<f64> {
    let ticks_per_second = clock_ticks();
    let start = cpu_ticks(pid).context("cannot read the server's CPU time")?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let end = cpu_ticks(pid).context("cannot read the server's CPU time")?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok((end - start) as f64 / ticks_per_second / elapsed * 100.0)
}

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: count fields after its closing parenthesis (field 3 on).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on Linux when unavailable).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// Resident memory of a process in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The soft limit of open files of a process (`/proc/<pid>/limits`).
fn server_nofile_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Raises this process's soft limit of open files to at least `wanted` (up to the hard limit) and
/// returns the limit now in force.
fn raise_nofile_limit(wanted: u64) -> anyhow::Result<u64> {
    let limit = rlimit::increase_nofile_limit(wanted)
        .context("cannot raise the limit of open files (RLIMIT_NOFILE)")?;
    if limit < wanted {
        eprintln!(
            "warning: only {limit} open files allowed (hard limit); raise it (`ulimit -Hn`) for {wanted}"
        );
    }
    Ok(limit)
}

/// What the client process reports once every stream was tried.
struct Ready {
    opened: usize,
    failed: usize,
    seconds: f64,
    first_error: Option<String>,
}

/// The `sse-idle-client` child process.
struct StreamClient {
    child: tokio::process::Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl StreamClient {
    async fn spawn(
        exe: &std::path::Path,
        url: &str,
        run: &str,
        args: &SseIdleArgs,
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .args(["bench", "sse-idle-client", "--url", url, "--run", run])
            .arg("--streams")
            .arg(args.streams.to_string())
            .arg("--connect-concurrency")
            .arg(args.connect_concurrency.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the stream client")?;
        let stdout = child.stdout.take().context("no stdout")?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    async fn line(&mut self) -> anyhow::Result<String> {
        self.lines
            .next_line()
            .await?
            .context("the stream client exited early")
    }

    async fn ready(&mut self) -> anyhow::Result<Ready> {
        let line = self.line().await?;
        let mut parts = line.splitn(5, ' ');
        let (Some("ready"), Some(opened), Some(failed), Some(seconds)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            bail!("unexpected line from the stream client: {line}");
        };
        Ok(Ready {
            opened: opened.parse()?,
            failed: failed.parse()?,
            seconds: seconds.parse()?,
            first_error: parts.next().map(str::to_string),
        })
    }

    async fn open_now(&mut self) -> anyhow::Result<usize> {
        let stdin = self.child.stdin.as_mut().context("no stdin")?;
        stdin.write_all(b"count\n").await?;
        stdin.flush().await?;
        let line = self.line().await?;
        line.strip_prefix("open ")
            .context("unexpected answer from the stream client")?
            .parse()
            .map_err(Into::into)
    }

    async fn stop(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Runs `bench sse-idle-client`: prints `ready <opened> <failed> <seconds> [first error]`, then
/// `open <n>` for each `count` line on stdin, and exits (closing every stream) when stdin closes.
pub async fn client(args: SseIdleClientArgs) -> anyhow::Result<()> {
    raise_nofile_limit(args.streams as u64 + FD_HEADROOM)?;
    let authority = args
        .url
        .strip_prefix("http://")
        .context("--url must be http://host:port")?
        .trim_end_matches('/')
        .to_string();
    let addr = tokio::net::lookup_host(&authority)
        .await?
        .next()
        .with_context(|| format!("cannot resolve {authority}"))?;
    let request = format!(
        "GET /runs/{}/events HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\
         X-Dev-Roles: viewer\r\n\r\n",
        args.run
    );
    let request: Arc<[u8]> = request.into_bytes().into();
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let open = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut attempts = tokio::task::JoinSet::new();
    let mut holders = tokio::task::JoinSet::new();
    for _ in 0..args.streams {
        let (gate, request) = (gate.clone(), request.clone());
        attempts.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            open_stream(addr, &request).await
        });
    }
    let (mut opened, mut failed, mut first_error) = (0usize, 0usize, None);
    while let Some(attempt) = attempts.join_next().await {
        match attempt.map_err(anyhow::Error::from).and_then(|a| a) {
            Ok(stream) => {
                opened += 1;
                open.fetch_add(1, Ordering::AcqRel);
                let open = open.clone();
                holders.spawn(hold(stream, open));
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}").replace('\n', " "));
            }
        }
    }
    println!(
        "ready {opened} {failed} {:.3}{}",
        started.elapsed().as_secs_f64(),
        first_error.map(|e| format!(" {e}")).unwrap_or_default()
    );
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = stdin.next_line().await? {
        if line.trim() == "count" {
            println!("open {}", open.load(Ordering::Acquire));
        }
    }
    holders.shutdown().await;
    Ok(())
}

/// Connects, sends the request and reads the response head; a stream answered 200 is returned.
async fn open_stream(addr: std::net::SocketAddr, request: &[u8]) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    stream.write_all(request).await.context("send")?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .context("no response head within 60 s")??;
        anyhow::ensure!(n > 0, "closed before the response head");
        head.extend_from_slice(&buf[..n]);
        anyhow::ensure!(head.len() < 16 * 1024, "response head too long");
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default().to_string();
    anyhow::ensure!(
        status_line.split_whitespace().nth(1) == Some("200"),
        "answered `{status_line}`"
    );
    Ok(stream)
}

/// Reads (and drops) what the server sends until it closes the stream.
async fn hold(mut stream: TcpStream, open: Arc<AtomicUsize>) {
    let mut buf = [0u8; 256];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    open.fetch_sub(1, Ordering::AcqRel);
}
