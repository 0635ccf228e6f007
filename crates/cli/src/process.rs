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
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .env("API_HOST", "127.0.0.1")
            .env("API_PORT", "0")
            .env("DEV_BYPASS_AUTH", "true")
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
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("researchops listening on ") {
                    return Ok(url.trim().to_string());
                }
            }
            anyhow::bail!("the server exited before listening")
        })
        .await
        .context("the server did not start within 60 s")??;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, url })
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
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
