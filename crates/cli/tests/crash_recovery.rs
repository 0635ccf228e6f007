//! `kill -9` of the server mid-run, then a restart on the same data directory: every run finishes,
//! and no stage whose outputs were committed runs again.

#![expect(clippy::unwrap_used, reason = "tests")]

use researchops::process::ServerProcess;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

fn env(corpus: &str) -> Vec<(&'static str, String)> {
    vec![
        ("RESEARCHOPS_CORPUS", corpus.to_string()),
        ("RESEARCHOPS_WORKERS", "1".into()),
        ("RESEARCHOPS_LEASE_SECONDS", "2".into()),
        ("RESEARCHOPS_HEARTBEAT_SECONDS", "0.5".into()),
        ("RESEARCHOPS_RESCUE_SECONDS", "0.5".into()),
        ("WORKER_POLL_SECONDS", "0.2".into()),
    ]
}

/// [`env`] plus the test hook that holds every run in `outline` for a minute (after two committed
/// stages), so the kill always lands mid-run.
fn held_in_outline(corpus: &str) -> Vec<(&'static str, String)> {
    let mut env = env(corpus);
    env.push(("RESEARCHOPS_TEST_HOOKS", "1".into()));
    env.push(("RESEARCHOPS_TEST_STAGE_DELAY", "outline=60000".into()));
    env
}

async fn get(client: &reqwest::Client, url: &str) -> Value {
    client
        .get(url)
        .header("X-Dev-Roles", "researcher")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_resumes_every_run_from_its_checkpoint() {
    let exe = Path::new(env!("CARGO_BIN_EXE_researchops"));
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/scifact/corpus.jsonl"
    );
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = ServerProcess::spawn(exe, dir.path(), &held_in_outline(corpus))
        .await
        .unwrap();
    let project: Value = client
        .post(format!("{}/projects", server.url))
        .header("X-Dev-Roles", "researcher")
        .json(&json!({ "name": "crash" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = project["id"].as_str().unwrap().to_string();
    let questions = [
        "vitamin D and bone mineral density",
        "macrophages in tumour growth",
        "insulin resistance in obesity",
        "antibiotic resistance in bacteria",
        "folic acid and stroke risk",
        "stem cells and tissue regeneration",
        "smoking and lung cancer risk",
        "HIV testing and treatment",
    ];
    let mut runs = Vec::new();
    for q in questions {
        let created: Value = client
            .post(format!("{}/projects/{project}/runs", server.url))
            .header("X-Dev-Roles", "researcher")
            .json(&json!({ "question": q }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        runs.push(created["run_id"].as_str().unwrap().to_string());
    }
    // Kill once some run has committed a stage but not finished (the hook holds it there).
    let mut killed_mid_run = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        for run in &runs {
            let events = get(&client, &format!("{}/runs/{run}/events", server.url)).await;
            let events = events.as_array().unwrap();
            let finished_stages = events
                .iter()
                .filter(|e| e["event_type"] == "stage_finish")
                .count();
            if (1..7).contains(&finished_stages) {
                killed_mid_run = Some((run.clone(), finished_stages));
                break;
            }
        }
        if killed_mid_run.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (victim, stages_before) = killed_mid_run.expect("caught a run mid-way");
    server.kill().await.unwrap();

    let server = ServerProcess::spawn(exe, dir.path(), &env(corpus))
        .await
        .unwrap();
    for run in &runs {
        let mut status = Value::Null;
        for _ in 0..600 {
            status = get(&client, &format!("{}/runs/{run}", server.url)).await;
            if status["status"] != "queued" && status["status"] != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status["status"], "succeeded", "run {run}: {status}");
        let events = get(&client, &format!("{}/runs/{run}/events", server.url)).await;
        let mut finishes: HashMap<String, usize> = HashMap::new();
        for e in events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event_type"] == "stage_finish")
        {
            *finishes
                .entry(e["stage"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        assert_eq!(finishes.len(), 7, "run {run}: {finishes:?}");
        assert!(
            finishes.values().all(|n| *n == 1),
            "a committed stage ran again in run {run}: {finishes:?}"
        );
        if *run == victim {
            let events = events.as_array().unwrap();
            let warned = events
                .iter()
                .any(|e| e["event_type"] == "log" && e["level"] == "warn");
            assert!(warned, "the recovered run logs a warn event");
            assert!(status["attempt"].as_i64().unwrap() >= 2);
            assert_eq!(status["retry_count"], 0);
            assert!(stages_before >= 1);
        }
    }
    server.kill().await.unwrap();
}
