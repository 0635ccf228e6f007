//! `RESEARCHOPS_BLOB_URL=s3://…`: a real server process keeps snapshots and artifacts in an S3 bucket
//! (a local moto server), not in its data directory.

#![expect(clippy::unwrap_used, reason = "tests")]

use researchops::process::ServerProcess;
use researchops_testkit::moto::Moto;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_s3_blob_storage_serves_artifacts_from_the_bucket() {
    let moto = Moto::start();
    moto.create_bucket("ro-artifacts");
    let dir = tempfile::tempdir().unwrap();
    let mut env = moto.env();
    env.push((
        "RESEARCHOPS_BLOB_URL",
        "s3://ro-artifacts/researchops".into(),
    ));
    env.push((
        "RESEARCHOPS_CORPUS",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../samples/scifact/corpus.jsonl"
        )
        .into(),
    ));
    env.push(("RESEARCHOPS_WORKERS", "1".into()));
    let server = ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_researchops")),
        dir.path(),
        &env,
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        client
            .post(format!("{}{path}", server.url))
            .header("X-Dev-Roles", "researcher")
            .json(&body)
            .send()
    };
    let project: Value = post("/projects".into(), json!({ "name": "s3" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run: Value = post(
        format!("/projects/{}/runs", project["id"].as_str().unwrap()),
        json!({ "question": "macrophages in tumour growth" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let run = run["run_id"].as_str().unwrap();
    let mut state = Value::Null;
    for _ in 0..300 {
        state = client
            .get(format!("{}/runs/{run}", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if state["status"] != "queued" && state["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state["status"], "succeeded", "{state}");
    let output: Value = client
        .get(format!("{}/runs/{run}/output", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        output["content"]
            .as_str()
            .unwrap()
            .starts_with("# macrophages in tumour growth")
    );
    let report = state["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "report.json")
        .unwrap();
    let partial = client
        .get(format!(
            "{}{}",
            server.url,
            report["download_url"].as_str().unwrap()
        ))
        .header("Range", "bytes=0-0")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.text().await.unwrap(), "{");
    let local_blobs = dir.path().join("blobs");
    assert!(
        !local_blobs.exists() || std::fs::read_dir(&local_blobs).unwrap().next().is_none(),
        "no blob on local disk"
    );
    server.kill().await.unwrap();
}
