//! `TestApp`: the real server (same wiring as the binary) on port 0 over a fresh data directory, and a
//! client with helpers for the development identity.

use clap::Parser;
use researchops::serve::{ServeArgs, Server};
use serde_json::{Value, json};
use std::time::Duration;

pub const TENANT_A: &str = "00000000-0000-0000-0000-00000000000a";
pub const TENANT_B: &str = "00000000-0000-0000-0000-00000000000b";

pub fn sample_corpus() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/scifact/corpus.jsonl"
    )
    .to_string()
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub server: Option<Server>,
    pub _dir: tempfile::TempDir,
}

/// Server arguments enabling the stage-delay test hook (docs/ARCHITECTURE.md, "Test hooks"), e.g.
/// `ingest=60000` to hold every run in `ingest` for a minute.
pub fn test_hooks(stage_delay: &str) -> Vec<String> {
    vec![
        "--test-hooks".into(),
        "true".into(),
        "--test-stage-delay".into(),
        stage_delay.into(),
    ]
}

pub struct Options {
    pub workers: usize,
    pub corpus: bool,
    pub dev_bypass: bool,
    pub extra: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 1,
            corpus: true,
            dev_bypass: true,
            extra: Vec::new(),
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut argv: Vec<String> = vec![
            "test".into(),
            "--data-dir".into(),
            dir.path().display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--dev-bypass-auth".into(),
            options.dev_bypass.to_string(),
            "--workers".into(),
            options.workers.to_string(),
            "--poll-seconds".into(),
            "0.2".into(),
            "--lease-seconds".into(),
            "3".into(),
            "--heartbeat-seconds".into(),
            "0.5".into(),
            "--rescue-seconds".into(),
            "0.5".into(),
            "--retry-base-seconds".into(),
            "0.2".into(),
            "--sse-keepalive-seconds".into(),
            "1".into(),
            "--shutdown-grace-seconds".into(),
            "5".into(),
        ];
        if options.corpus {
            argv.extend(["--corpus".into(), sample_corpus()]);
        }
        argv.extend(options.extra);
        let args = Args::try_parse_from(argv).expect("test arguments parse");
        let server = researchops::serve::start(args.serve)
            .await
            .expect("server starts");
        let url = format!("http://{}", server.addr);
        Self {
            url,
            client: reqwest::Client::new(),
            server: Some(server),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A request as `tenant` with `roles`.
    pub fn as_user(
        &self,
        method: reqwest::Method,
        path: &str,
        tenant: &str,
        roles: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("X-Dev-Tenant-Id", tenant)
            .header("X-Dev-Roles", roles)
    }

    pub fn researcher(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.as_user(method, path, TENANT_A, "researcher")
    }

    pub async fn create_project(&self, name: &str) -> String {
        let response = self
            .researcher(reqwest::Method::POST, "/projects")
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_string()
    }

    pub async fn create_run(&self, project: &str, question: &str) -> String {
        let response = self
            .researcher(reqwest::Method::POST, &format!("/projects/{project}/runs"))
            .json(&json!({ "question": question }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], "queued");
        body["run_id"].as_str().expect("run_id").to_string()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .researcher(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls until the run is terminal (at most 60 s); returns the run.
    pub async fn wait_terminal(&self, run: &str) -> Value {
        for _ in 0..600 {
            let (status, body) = self.get_json(&format!("/runs/{run}")).await;
            assert_eq!(status, 200, "{body}");
            if ["succeeded", "failed", "canceled", "blocked"]
                .contains(&body["status"].as_str().unwrap_or_default())
            {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("run {run} did not finish within 60 s");
    }

    /// Polls the run's events until one matches (at most 60 s); returns it.
    pub async fn wait_event(&self, run: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(found) = self.events(run).await.into_iter().find(|e| matches(e)) {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run}: the expected event did not come within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn events(&self, run: &str) -> Vec<Value> {
        let (status, body) = self.get_json(&format!("/runs/{run}/events")).await;
        assert_eq!(status, 200);
        body.as_array().expect("array").clone()
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown.cancel();
            server.wait().await.expect("clean shutdown");
        }
    }
}

/// Asserts a problem+json response and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type}"
    );
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(!request_id.is_empty(), "X-Request-ID on every response");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["type"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert_eq!(body["request_id"], request_id.as_str());
    body
}
