use crate::cluster::{Client, Database, api, delayed_worker, worker};
use std::process::Command;
use std::time::Duration;

fn signal(pid: u32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paused_past_its_lease_commits_nothing_after_the_rescue() {
    let db = Database::fresh();
    let dir = tempfile::tempdir().unwrap();
    let a = api(&db, dir.path()).await;
    let client = Client::new();
    let project = client.project(&a.url).await;
    // The test hook holds the run in `ingest` on this worker, so the pause always lands mid-run.
    let paused = delayed_worker(&db, dir.path(), "ingest=60000").await;
    let pid = paused.pid().unwrap();
    let run = client
        .run(&a.url, &project, "macrophages in tumour growth")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let events = client.events(&a.url, &run).await;
        if events
            .iter()
            .any(|e| e["event_type"] == "stage_start" && e["stage"] == "ingest")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never started ingest"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(pid, "-STOP");
    // Another worker rescues the run after the lease (3 s) expires and finishes it.
    let rescuer = worker(&db, dir.path()).await;
    let end = client
        .wait_all(&a.url, std::slice::from_ref(&run), Duration::from_secs(120))
        .await;
    assert_eq!(end[0]["status"], "succeeded");
    let before = client.events(&a.url, &run).await;
    // Wake the paused worker: its next heartbeat finds the lease gone, and it must commit nothing.
    signal(pid, "-CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = client.events(&a.url, &run).await;
    assert_eq!(before, after, "the stale worker wrote to the run");
    client.assert_each_stage_once(&a.url, &run).await;
    let state = client.get(&format!("{}/runs/{run}", a.url)).await;
    assert_eq!(state["status"], "succeeded");
    assert!(state["attempt"].as_i64().unwrap() >= 2);
    drop((paused, rescuer));
}
