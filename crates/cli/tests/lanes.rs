//! `researchops research` and `researchops serve` on one data directory: neither executes the
//! other's runs (the CLI's run waits in a private queue lane that only its own worker claims from).

#![expect(clippy::unwrap_used, reason = "tests")]

use researchops::process::ServerProcess;
use researchops::research::LOCAL_TENANT;
use researchops_core::{
    CreateRunOutcome, Lane, NewProject, NewRun, PageRequest, RunId, RunOptions, RunStatus, Store,
    TenantId,
};
use researchops_store_sqlite::{Durability, SqliteStore};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const CLI_QUESTION: &str = "What role do macrophages play in tumour growth?";
/// A question the sample cannot answer: the CLI's run fails with `no_evidence`.
const OFF_TOPIC: &str = "What is the airspeed velocity of an unladen swallow?";

fn scifact() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/scifact/corpus.jsonl"
    )
    .to_string()
}

async fn research(cwd: &Path, data: &Path) -> Output {
    research_question(cwd, data, CLI_QUESTION).await
}

async fn research_question(cwd: &Path, data: &Path, question: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_researchops"))
        .args([
            "research",
            "--corpus",
            &scifact(),
            "--format",
            "md",
            question,
        ])
        .current_dir(cwd)
        .env("RESEARCHOPS_DATA_DIR", data)
        .env("WORKER_POLL_SECONDS", "0.05")
        .env_remove("RESEARCHOPS_CORPUS")
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap()
}

async fn open(data: &Path) -> SqliteStore {
    SqliteStore::open(&data.join("researchops.db"), Durability::Normal)
        .await
        .unwrap()
}

async fn event_types(store: &SqliteStore, tenant: TenantId, run: RunId) -> Vec<String> {
    store
        .list_events(tenant, run, None, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_type.as_str().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn research_and_serve_on_one_data_dir_never_execute_each_others_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let tenant: TenantId = LOCAL_TENANT.parse().unwrap();

    // A run the API accepted while the server was stopped: queued in the default lane.
    let store = open(&data).await;
    store.ensure_tenant(tenant, "local").await.unwrap();
    let project = NewProject {
        name: "server".into(),
        description: None,
    };
    let project = store.create_project(tenant, project).await.unwrap().id;
    let server_run = NewRun {
        project_id: project,
        question: "What role do macrophages play in tumour growth?".into(),
        sources: vec!["local".into()],
        options: RunOptions::default(),
        client_request_id: None,
        lane: Lane::default(),
    };
    let server_run = match store.create_run(tenant, server_run, 3).await.unwrap() {
        CreateRunOutcome::Created(id) => id,
        other => panic!("expected a new run, got {other:?}"),
    };
    store.close().await;

    // `research` executes its own run and leaves the server's queued run alone.
    let out = research(dir.path(), &data).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let store = open(&data).await;
    let untouched = store.get_run(tenant, server_run).await.unwrap();
    assert_eq!(
        (untouched.status, untouched.attempt),
        (RunStatus::Queued, 0)
    );
    assert_eq!(
        event_types(&store, tenant, server_run).await,
        ["run.created", "run.queued"]
    );
    store.close().await;

    // A server whose corpus matches nothing the CLI asks executes its own run (it fails for lack
    // of evidence)…
    let elsewhere = dir.path().join("elsewhere.jsonl");
    std::fs::write(
        &elsewhere,
        r#"{"_id": "1", "title": "Gardening", "text": "Tomatoes like sun, water and patience."}"#,
    )
    .unwrap();
    let env = [
        ("RESEARCHOPS_CORPUS", elsewhere.display().to_string()),
        ("RESEARCHOPS_WORKERS", "2".into()),
        ("WORKER_POLL_SECONDS", "0.05".into()),
    ];
    let exe = Path::new(env!("CARGO_BIN_EXE_researchops"));
    let server = ServerProcess::spawn(exe, &data, &env).await.unwrap();
    let store = open(&data).await;
    let mut ended = store.get_run(tenant, server_run).await.unwrap();
    for _ in 0..600 {
        if ended.status.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ended = store.get_run(tenant, server_run).await.unwrap();
    }
    assert_eq!(
        (ended.status, ended.error_code.as_deref()),
        (RunStatus::Failed, Some("no_evidence"))
    );

    // …and, polling all along, never the CLI's: had it taken the run, its corpus would have failed it.
    let out = research(dir.path(), &data).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let projects = store
        .list_projects(tenant, &PageRequest::new(Some(10), None))
        .await
        .unwrap();
    let cli = projects
        .items
        .iter()
        .find(|p| p.name == "Command line")
        .unwrap();
    let runs = store
        .list_runs(tenant, cli.id, &PageRequest::new(Some(10), None))
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 2);
    assert!(runs.items.iter().all(|r| r.status == RunStatus::Succeeded));

    // A failed CLI run cannot be retried through the API: the retry would hand it to the server's
    // workers (and the server's corpus). The refusal changes nothing.
    let out = research_question(dir.path(), &data, OFF_TOPIC).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs = store
        .list_runs(tenant, cli.id, &PageRequest::new(Some(10), None))
        .await
        .unwrap();
    let failed = runs
        .items
        .iter()
        .find(|r| r.status == RunStatus::Failed)
        .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/runs/{}/retry", server.url, failed.id))
        .header("X-Dev-Tenant-Id", LOCAL_TENANT)
        .header("X-Dev-Roles", "researcher")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let problem: serde_json::Value = response.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("researchops research"), "{problem}");
    let after = store.get_run(tenant, failed.id).await.unwrap();
    assert_eq!((after.status, after.retry_count), (RunStatus::Failed, 0));
    store.close().await;
    server.kill().await.unwrap();
}
