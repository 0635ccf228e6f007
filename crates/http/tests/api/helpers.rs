//! A `TestApp`: the real router over a fresh SQLite database and an in-memory blob store, driven with
//! `tower::ServiceExt::oneshot`; plus a fake worker that moves runs through the store's fenced methods.

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use researchops_core::{
    Artifact, ArtifactId, BlobInfo, BlobStore, Lane, Queue, RunEnd, RunId, Stage, StageCommit,
    Store, StoreError,
};
use researchops_http::{App, AppState, HttpConfig};
use researchops_store_sqlite::{Durability, SqliteStore};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A second tenant for isolation tests.
pub const OTHER_TENANT: &str = "7b0e3c4d-1111-4222-8333-944455556666";

/// Blobs in a map; the key is a fake (but stable) 64-hex-digit digest.
#[derive(Default)]
pub struct MemBlobs(Mutex<HashMap<String, Bytes>>);

#[async_trait]
impl BlobStore for MemBlobs {
    async fn put(&self, bytes: Bytes) -> Result<BlobInfo, StoreError> {
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        let sha256 = format!("{:064x}", hasher.finish());
        let size_bytes = bytes.len() as u64;
        self.0.lock().expect("lock").insert(sha256.clone(), bytes);
        Ok(BlobInfo { sha256, size_bytes })
    }

    async fn get(&self, sha256: &str) -> Result<Bytes, StoreError> {
        self.0
            .lock()
            .expect("lock")
            .get(sha256)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn get_range(&self, sha256: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let bytes = self.get(sha256).await?;
        Ok(bytes.slice(range.start as usize..range.end as usize))
    }
}

pub struct TestApp {
    pub router: Router,
    pub store: Arc<SqliteStore>,
    pub blobs: Arc<MemBlobs>,
    pub shutdown: CancellationToken,
    _dir: TempDir,
}

impl TestApp {
    /// Development bypass on, sources `local` and `kb` enabled.
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(adjust: impl FnOnce(&mut HttpConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("db.sqlite"), Durability::Normal)
                .await
                .expect("store"),
        );
        let blobs = Arc::new(MemBlobs::default());
        let mut config = HttpConfig {
            dev_bypass_auth: true,
            enabled_sources: vec!["local".into(), "kb".into()],
            max_body_bytes: 16 * 1024,
            body_read_timeout: Duration::from_secs(30),
            sse_keepalive: Duration::from_secs(15),
            max_attempts: 3,
        };
        adjust(&mut config);
        let shutdown = CancellationToken::new();
        let app = App::new(store.clone(), blobs.clone(), config, shutdown.clone());
        let router = researchops_http::router(AppState::new(app));
        Self {
            router,
            store,
            blobs,
            shutdown,
            _dir: dir,
        }
    }

    pub fn get(&self, uri: &str) -> Call<'_> {
        self.call(Method::GET, uri)
    }

    pub fn post(&self, uri: &str) -> Call<'_> {
        self.call(Method::POST, uri)
    }

    pub fn call(&self, method: Method, uri: &str) -> Call<'_> {
        let builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-dev-roles", "owner");
        Call {
            app: self,
            builder,
            body: Body::empty(),
        }
    }

    /// Creates a project and returns its id.
    pub async fn project(&self, name: &str) -> String {
        let reply = self
            .post("/projects")
            .json(serde_json::json!({ "name": name }))
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        reply.json()["id"].as_str().expect("id").to_owned()
    }

    /// Creates a run and returns its id.
    pub async fn run(&self, project: &str, question: &str) -> String {
        let reply = self
            .post(&format!("/projects/{project}/runs"))
            .json(serde_json::json!({ "question": question }))
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
        reply.json()["run_id"].as_str().expect("run_id").to_owned()
    }

    /// The SQLite database file (for a second store on it: "another process").
    pub fn database_path(&self) -> std::path::PathBuf {
        self._dir.path().join("db.sqlite")
    }

    /// Plays a worker: claims the run's job, starts it and ends it. With `Succeeded`, the export stage
    /// commits `report.md` and `context_bundle.json` first.
    pub async fn execute(&self, run: &str, end: RunEnd) -> Vec<Artifact> {
        self.execute_on(&self.store, run, end).await
    }

    /// Like [`Self::execute`], through `store` (e.g. another store on the same database file, whose
    /// commits this app's event hub never hears of).
    pub async fn execute_on(&self, store: &SqliteStore, run: &str, end: RunEnd) -> Vec<Artifact> {
        let run_id: RunId = run.parse().expect("run id");
        let jobs = store
            .claim(&Lane::default(), "test-worker", 16, Duration::from_secs(60))
            .await
            .expect("claim");
        let job = jobs
            .into_iter()
            .find(|j| j.run_id == Some(run_id))
            .expect("the run's job");
        store.start_run(job.lease, run_id).await.expect("start");
        let mut artifacts = Vec::new();
        if end == RunEnd::Succeeded {
            for (name, kind, mime, bytes) in [
                (
                    "report.md",
                    "report",
                    "text/markdown; charset=utf-8",
                    "# Report\n\nThe answer is 42.\n".to_owned(),
                ),
                (
                    "context_bundle.json",
                    "context",
                    "application/json",
                    r#"{"question":"q","snippets":[]}"#.to_owned(),
                ),
            ] {
                let info = self.blobs.put(Bytes::from(bytes)).await.expect("put");
                artifacts.push(Artifact {
                    id: ArtifactId::new(),
                    run_id,
                    name: name.into(),
                    kind: kind.into(),
                    mime_type: mime.into(),
                    size_bytes: info.size_bytes as i64,
                    sha256: info.sha256,
                    created_at: chrono::Utc::now(),
                });
            }
            store
                .begin_stage(job.lease, run_id, Stage::Export)
                .await
                .expect("begin");
            let commit = StageCommit {
                artifacts: artifacts.clone(),
                message: "exported".into(),
                ..StageCommit::default()
            };
            store
                .finish_stage(job.lease, run_id, Stage::Export, commit)
                .await
                .expect("finish stage");
        }
        store
            .finish_run(job.lease, run_id, end)
            .await
            .expect("finish run");
        artifacts
    }
}

pub struct Call<'a> {
    app: &'a TestApp,
    builder: axum::http::request::Builder,
    body: Body,
}

impl Call<'_> {
    /// Sets (replaces) a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name");
        let value = axum::http::HeaderValue::from_str(value).expect("header value");
        self.builder
            .headers_mut()
            .expect("builder")
            .insert(name, value);
        self
    }

    pub fn role(self, roles: &str) -> Self {
        self.header("x-dev-roles", roles)
    }

    pub fn tenant(self, tenant: &str) -> Self {
        self.header("x-dev-tenant-id", tenant)
    }

    pub fn json(mut self, value: Value) -> Self {
        self.builder = self.builder.header("content-type", "application/json");
        self.body = Body::from(value.to_string());
        self
    }

    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<Bytes>) -> Self {
        if let Some(ct) = content_type {
            self = self.header("content-type", ct);
        }
        self.body = Body::from(body.into());
        self
    }

    /// Sends the request and reads the whole body (with a timeout, for streams).
    pub async fn send(self) -> Reply {
        let response = self.response().await;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(20), body.collect())
            .await
            .expect("body within 20 s")
            .expect("body")
            .to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Sends the request; the body is left to the caller.
    pub async fn response(self) -> axum::response::Response {
        let request = self.builder.body(self.body).expect("request");
        self.app
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible")
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with `status`, whose `request_id` is the response's header.
    pub fn assert_problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://researchops.dev/problems/"))
        );
        assert!(body["title"].is_string() && body["detail"].is_string());
        let request_id = self.header("x-request-id").expect("x-request-id");
        assert_eq!(body["request_id"], request_id);
        body
    }
}

/// One parsed server-sent event.
#[derive(Debug, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Parses a complete SSE body (comments skipped).
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = SseEvent::default();
            let mut any = false;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    event.id = Some(v.trim().to_owned());
                    any = true;
                } else if let Some(v) = line.strip_prefix("event:") {
                    event.event = Some(v.trim().to_owned());
                    any = true;
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data.push_str(v.trim_start());
                    any = true;
                }
            }
            any.then_some(event)
        })
        .collect()
}
