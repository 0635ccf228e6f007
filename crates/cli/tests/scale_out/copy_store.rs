use crate::cluster::{Client, Database, EXE, corpus, env};
use researchops::process::ServerProcess;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

async fn snapshot(
    client: &Client,
    api: &str,
    runs: &[String],
) -> Vec<(Value, Vec<Value>, Value, Value, Value)> {
    let mut out = Vec::new();
    for run in runs {
        let mut state = client.get(&format!("{api}/runs/{run}")).await;
        state.as_object_mut().unwrap().remove("artifacts");
        let events = client.events(api, run).await;
        let claims = client.get(&format!("{api}/runs/{run}/claims")).await;
        // Sources, snapshots (raw and text blob keys) and snippets.
        let evidence = client.get(&format!("{api}/runs/{run}/evidence")).await;
        let mut output: Value = client
            .http
            .get(format!("{api}/runs/{run}/output"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // A problem response (failed run) carries this request's id.
        output.as_object_mut().unwrap().remove("request_id");
        out.push((state, events, claims, evidence, output));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_installation_copied_to_postgres_reads_back_the_same_through_the_api() {
    let db = Database::fresh();
    let dir = tempfile::tempdir().unwrap();
    let exe = Path::new(EXE);
    // An embedded installation with finished runs.
    let sqlite_env = vec![
        ("RESEARCHOPS_CORPUS", corpus()),
        ("RESEARCHOPS_WORKERS", "1".to_string()),
    ];
    let embedded = ServerProcess::spawn(exe, dir.path(), &sqlite_env)
        .await
        .unwrap();
    let client = Client::new();
    let project = client.project(&embedded.url).await;
    let mut runs = Vec::new();
    for q in [
        "macrophages in tumour growth",
        "insulin resistance in obesity",
        "zyxwv qqqzz frobnicate",
    ] {
        runs.push(client.run(&embedded.url, &project, q).await);
    }
    client
        .wait_all(&embedded.url, &runs, Duration::from_secs(120))
        .await;
    let before = snapshot(&client, &embedded.url, &runs).await;
    assert_eq!(before[2].0["status"], "failed");
    embedded.kill().await.unwrap();

    let copy = |to: &str| {
        Command::new(exe)
            .args(["admin", "copy-store", "--from"])
            .arg(format!(
                "sqlite://{}",
                dir.path().join("researchops.db").display()
            ))
            .args(["--to", to])
            .output()
            .unwrap()
    };
    let out = copy(&db.url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("run_events"));

    // The same installation on PostgreSQL (blobs stay in the shared data directory).
    let api = ServerProcess::spawn(exe, dir.path(), &env(&db, 1))
        .await
        .unwrap();
    let after = snapshot(&client, &api.url, &runs).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.0, a.0, "the run reads back identically");
        assert_eq!(b.1, a.1, "its events read back identically (same ids)");
        assert_eq!(b.2, a.2, "its claims read back identically");
        assert_eq!(b.3, a.3, "its report reads back identically");
    }
    // New work continues: new event ids stay above the copied ones.
    let last_copied = after
        .iter()
        .flat_map(|r| r.1.iter())
        .map(|e| e["id"].as_i64().unwrap())
        .max()
        .unwrap();
    let fresh = client
        .run(&api.url, &project, "folic acid and stroke risk")
        .await;
    let done = client
        .wait_all(
            &api.url,
            std::slice::from_ref(&fresh),
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(done[0]["status"], "succeeded");
    let first_new = client.events(&api.url, &fresh).await[0]["id"]
        .as_i64()
        .unwrap();
    assert!(first_new > last_copied, "{first_new} > {last_copied}");
    // A second copy into a database that now holds data is refused.
    let again = copy(&db.url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    api.kill().await.unwrap();
}
