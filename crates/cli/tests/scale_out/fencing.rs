use crate::cluster::{Client, Database, api, worker};
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
    for attempt in 0..20 {
        let paused = worker(&db, dir.path()).await;
        let pid = paused.pid().unwrap();
        let run = client
            .run(&a.url, &project, "macrophages in tumour growth")
            .await;
        // Pause the worker as soon as it holds the run.
        let mut caught = false;
        for _ in 0..2000 {
            let state = client.get(&format!("{}/runs/{run}", a.url)).await;
            if state["status"] == "running" {
                signal(pid, "-STOP");
                let state = client.get(&format!("{}/runs/{run}", a.url)).await;
                caught = state["status"] == "running";
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if !caught {
            signal(pid, "-CONT");
            client
                .wait_all(&a.url, std::slice::from_ref(&run), Duration::from_secs(60))
                .await;
            paused.kill().await.unwrap();
            eprintln!("attempt {attempt}: the run finished before the pause; trying again");
            continue;
        }
        // Another worker rescues the run after the lease (3 s) expires and finishes it.
        let rescuer = worker(&db, dir.path()).await;
        let end = client
            .wait_all(&a.url, std::slice::from_ref(&run), Duration::from_secs(120))
            .await;
        assert_eq!(end[0]["status"], "succeeded");
        let before = client.events(&a.url, &run).await;
        // Wake the paused worker: whatever it was doing, it must commit nothing.
        signal(pid, "-CONT");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = client.events(&a.url, &run).await;
        assert_eq!(before, after, "the stale worker wrote to the run");
        client.assert_each_stage_once(&a.url, &run).await;
        let state = client.get(&format!("{}/runs/{run}", a.url)).await;
        assert_eq!(state["status"], "succeeded");
        assert!(state["attempt"].as_i64().unwrap() >= 2);
        drop((paused, rescuer));
        return;
    }
    panic!("never caught a run in flight in 20 attempts");
}
