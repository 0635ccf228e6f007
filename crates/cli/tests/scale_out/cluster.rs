//! A throwaway PostgreSQL database per test and helpers to run a cluster of `researchops` processes
//! over it (one shared data directory stands in for shared blob storage).

use researchops::process::{ServerProcess, WorkerProcess};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub const EXE: &str = env!("CARGO_BIN_EXE_researchops");

/// A fresh database, dropped on drop. Panics when PostgreSQL is unreachable: a test that did not run
/// must not pass (leave these tests out with `RESEARCHOPS_TEST_POSTGRES=skip scripts/test.sh`).
pub struct Database {
    pub url: String,
    name: String,
}

fn psql(sql: &str) -> bool {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl Database {
    pub fn fresh() -> Self {
        let name = format!("ro_scale_{}", uuid::Uuid::new_v4().simple());
        assert!(
            psql(&format!("CREATE DATABASE \"{name}\"")),
            "PostgreSQL is not reachable on 127.0.0.1:5432 (psql as postgres). Start it, or leave \
             the PostgreSQL tests out with RESEARCHOPS_TEST_POSTGRES=skip scripts/test.sh."
        );
        Self {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ));
    }
}

pub fn corpus() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/scifact/corpus.jsonl"
    )
    .to_string()
}

/// Settings every process of a test cluster shares: short leases so recovery is quick.
pub fn env(db: &Database, workers: usize) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.url.clone()),
        ("RESEARCHOPS_CORPUS", corpus()),
        ("RESEARCHOPS_WORKERS", workers.to_string()),
        ("RESEARCHOPS_LEASE_SECONDS", "3".into()),
        ("RESEARCHOPS_HEARTBEAT_SECONDS", "0.5".into()),
        ("RESEARCHOPS_RESCUE_SECONDS", "0.5".into()),
        ("WORKER_POLL_SECONDS", "0.5".into()),
        ("RESEARCHOPS_MAX_ATTEMPTS", "50".into()),
        ("RESEARCHOPS_SHUTDOWN_GRACE_SECONDS", "2".into()),
        ("RESEARCHOPS_PG_POOL_SIZE", "4".into()),
    ]
}

pub async fn api(db: &Database, dir: &Path) -> ServerProcess {
    ServerProcess::spawn(Path::new(EXE), dir, &env(db, 0))
        .await
        .unwrap()
}

pub async fn worker(db: &Database, dir: &Path) -> WorkerProcess {
    WorkerProcess::spawn(Path::new(EXE), dir, &env(db, 1))
        .await
        .unwrap()
}

/// A worker whose stages wait per the stage-delay test hook (docs/ARCHITECTURE.md, "Test hooks").
pub async fn delayed_worker(db: &Database, dir: &Path, stage_delay: &str) -> WorkerProcess {
    let mut env = env(db, 1);
    env.push(("RESEARCHOPS_TEST_HOOKS", "1".into()));
    env.push(("RESEARCHOPS_TEST_STAGE_DELAY", stage_delay.into()));
    WorkerProcess::spawn(Path::new(EXE), dir, &env)
        .await
        .unwrap()
}

pub struct Client {
    pub http: reqwest::Client,
}

impl Client {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, url: &str, body: Value) -> Value {
        let response = self
            .http
            .post(url)
            .header("X-Dev-Roles", "researcher")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn get(&self, url: &str) -> Value {
        let response = self.http.get(url).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn project(&self, api: &str) -> String {
        self.post(&format!("{api}/projects"), json!({ "name": "scale" }))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn run(&self, api: &str, project: &str, question: &str) -> String {
        let created = self
            .post(
                &format!("{api}/projects/{project}/runs"),
                json!({ "question": question }),
            )
            .await;
        created["run_id"].as_str().unwrap().to_string()
    }

    /// Waits until every run is terminal; returns their final states.
    pub async fn wait_all(&self, api: &str, runs: &[String], limit: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut done = Vec::with_capacity(runs.len());
        for run in runs {
            loop {
                let state = self.get(&format!("{api}/runs/{run}")).await;
                if !["queued", "running"].contains(&state["status"].as_str().unwrap()) {
                    done.push(state);
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "run {run} still {} after {limit:?}",
                    state["status"]
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        done
    }

    pub async fn events(&self, api: &str, run: &str) -> Vec<Value> {
        self.get(&format!("{api}/runs/{run}/events?limit=5000"))
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// Every stage committed exactly once.
    pub async fn assert_each_stage_once(&self, api: &str, run: &str) {
        let events = self.events(api, run).await;
        let mut counts = std::collections::BTreeMap::new();
        for e in events.iter().filter(|e| e["event_type"] == "stage_finish") {
            *counts
                .entry(e["stage"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 7, "run {run}: {counts:?}");
        assert!(
            counts.values().all(|n| *n == 1),
            "a committed stage ran again in run {run}: {counts:?}"
        );
    }

    /// `report.md` and `report.json` with run-specific ids removed.
    pub async fn report(&self, api: &str, run: &str) -> (String, Value) {
        let artifacts = self.get(&format!("{api}/runs/{run}/artifacts")).await;
        let mut md = String::new();
        let mut report = Value::Null;
        for a in artifacts["items"].as_array().unwrap() {
            let url = format!("{api}{}", a["download_url"].as_str().unwrap());
            match a["name"].as_str().unwrap() {
                "report.md" => {
                    md = self
                        .http
                        .get(&url)
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap()
                }
                "report.json" => {
                    report = self
                        .http
                        .get(&url)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap()
                }
                _ => {}
            }
        }
        strip_ids(&mut report);
        (md, report)
    }
}

fn strip_ids(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in ["source_id", "snippet_ids"] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_ids);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_ids),
        _ => {}
    }
}

pub const QUESTIONS: [&str; 8] = [
    "vitamin D and bone mineral density",
    "macrophages in tumour growth",
    "insulin resistance in obesity",
    "antibiotic resistance in bacteria",
    "folic acid and stroke risk",
    "stem cells and tissue regeneration",
    "smoking and lung cancer risk",
    "HIV testing and treatment",
];
