use crate::cluster::{Client, Database, QUESTIONS, api, delayed_worker};
use researchops::process::WorkerProcess;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_stage_lose_no_run_and_change_no_report() {
    let db = Database::fresh();
    let dir = tempfile::tempdir().unwrap();
    let a = api(&db, dir.path()).await;
    let client = Client::new();
    let project = client.project(&a.url).await;
    let mut runs = Vec::new();
    for q in QUESTIONS.iter().cycle().take(48) {
        runs.push((q.to_string(), client.run(&a.url, &project, q).await));
    }
    let mut workers: Vec<WorkerProcess> = Vec::new();
    // Every stage takes at least 100 ms (test hook), so some run is always mid-way to be killed in.
    for _ in 0..3 {
        workers.push(delayed_worker(&db, dir.path(), "100").await);
    }
    // Kill a worker whenever some run is mid-way (started, not finished), and replace it.
    let mut kills = 0;
    let mut round = 0usize;
    while kills < 20 {
        round += 1;
        assert!(round < 20_000, "only {kills} kills happened");
        let mut mid_run = false;
        for (_, run) in &runs {
            let state = client.get(&format!("{}/runs/{run}", a.url)).await;
            if state["status"] == "running" && state["current_stage"] != "retrieve" {
                mid_run = true;
                break;
            }
        }
        if !mid_run {
            let all_done = client
                .get(&format!("{}/runs/{}", a.url, runs.last().unwrap().1))
                .await["status"]
                == "succeeded";
            if all_done {
                // Out of work before 20 kills: queue more.
                for q in QUESTIONS {
                    runs.push((q.to_string(), client.run(&a.url, &project, q).await));
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let victim = workers.remove(round % workers.len());
        victim.kill().await.unwrap();
        kills += 1;
        workers.push(delayed_worker(&db, dir.path(), "100").await);
    }
    let ids: Vec<String> = runs.iter().map(|(_, r)| r.clone()).collect();
    let finished = client
        .wait_all(&a.url, &ids, Duration::from_secs(1200))
        .await;
    for state in &finished {
        assert_eq!(state["status"], "succeeded", "{state}");
    }
    // Undisturbed runs of the same questions, for comparison.
    let mut baseline = std::collections::HashMap::new();
    for q in QUESTIONS {
        let run = client.run(&a.url, &project, q).await;
        client
            .wait_all(&a.url, std::slice::from_ref(&run), Duration::from_secs(120))
            .await;
        baseline.insert(q.to_string(), client.report(&a.url, &run).await);
    }
    let mut recovered = 0;
    for (question, run) in &runs {
        client.assert_each_stage_once(&a.url, run).await;
        assert_eq!(
            &client.report(&a.url, run).await,
            &baseline[question],
            "run {run} ({question}) differs from an undisturbed run"
        );
        let state = client.get(&format!("{}/runs/{run}", a.url)).await;
        if state["attempt"].as_i64().unwrap() > 1 {
            recovered += 1;
        }
    }
    assert!(recovered >= 1, "some run was recovered after a kill");
    eprintln!("{kills} workers killed; {recovered} runs recovered from a checkpoint");
    drop(workers);
}
