//! Starting `researchops serve` as a child process (benchmarks and crash tests) and reading a
//! Server-Sent Events stream from it. Only loopback addresses are ever used.

use anyhow::Context;
use futures::StreamExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A `researchops serve` child process.
pub struct ServerProcess {
    /// The process (killed on drop).
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ServerProcess {
    /// Starts `exe serve` on a free loopback port with development identity and `env` on top, and
    /// waits until it listens.
    pub async fn spawn(
        exe: &Path,
        data_dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut base = vec![
            ("API_HOST", "127.0.0.1".to_string()),
            ("API_PORT", "0".to_string()),
            ("DEV_BYPASS_AUTH", "true".to_string()),
        ];
        base.extend(env.iter().map(|(k, v)| (*k, v.clone())));
        let (child, line) =
            spawn_until(exe, "serve", data_dir, &base, "researchops listening on ").await?;
        Ok(Self {
            child,
            url: line.trim().to_string(),
        })
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A `researchops worker` child process.
pub struct WorkerProcess {
    /// The process (killed on drop).
    pub child: Child,
}

impl WorkerProcess {
    /// Starts `exe worker` with `env` and waits until it runs.
    pub async fn spawn(
        exe: &Path,
        data_dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let (child, _) =
            spawn_until(exe, "worker", data_dir, env, "researchops worker started").await?;
        Ok(Self { child })
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Starts `exe <command>` and returns once a stdout line starts with `ready` (the rest of the line).
async fn spawn_until(
    exe: &Path,
    command_name: &str,
    data_dir: &Path,
    env: &[(&str, String)],
    ready: &str,
) -> anyhow::Result<(Child, String)> {
    let mut command = Command::new(exe);
    command
        .arg(command_name)
        .env("RESEARCHOPS_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn");
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let rest = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix(ready) {
                return Ok(rest.to_string());
            }
        }
        anyhow::bail!("`researchops {command_name}` exited before it was ready")
    })
    .await
    .with_context(|| format!("`researchops {command_name}` was not ready within 60 s"))??;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, rest))
}

/// One event of an SSE stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SseEvent {
    /// `id:` field.
    pub id: Option<String>,
    /// `event:` field (default `message`).
    pub event: String,
    /// `data:` lines joined by newlines.
    pub data: String,
}

/// Reads an SSE response to its end (or until `stop` returns true for an event), calling `on_event`
/// for each event as it arrives. Comments (keep-alives) are skipped.
pub async fn read_sse(
    response: reqwest::Response,
    mut on_event: impl FnMut(&SseEvent) -> bool,
) -> anyhow::Result<()> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = SseEvent {
                event: "message".into(),
                ..SseEvent::default()
            };
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    event.id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("event:") {
                    event.event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                }
            }
            if data.is_empty() && event.id.is_none() {
                continue;
            }
            event.data = data.join("\n");
            if on_event(&event) {
                return Ok(());
            }
        }
    }
    Ok(())
}
