use crate::cluster::{Client, Database, QUESTIONS, api, worker};
use researchops::process::read_sse;
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_nodes_and_three_workers_run_everything_and_stream_every_event() {
    let db = Database::fresh();
    let dir = tempfile::tempdir().unwrap();
    // Both nodes start at once on the empty database: migrations run once, under the advisory lock.
    let (a, b) = tokio::join!(api(&db, dir.path()), api(&db, dir.path()));
    let client = Client::new();
    let project = client.project(&a.url).await;
    // Runs created through B, watched live through A before any worker exists.
    let mut watched = Vec::new();
    for q in QUESTIONS.iter().cycle().take(20) {
        watched.push(client.run(&b.url, &project, q).await);
    }
    let mut streams = Vec::new();
    for run in &watched {
        let response = client
            .http
            .get(format!("{}/runs/{run}/events", a.url))
            .header("Accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        streams.push(tokio::spawn(async move {
            let mut events: Vec<(i64, Value)> = Vec::new();
            let mut done = None;
            read_sse(response, |e| {
                if e.event == "done" {
                    done = Some(e.data.clone());
                    return true;
                }
                events.push((
                    e.id.as_deref().unwrap().parse().unwrap(),
                    serde_json::from_str(&e.data).unwrap(),
                ));
                false
            })
            .await
            .unwrap();
            (events, done)
        }));
    }
    let workers = [
        worker(&db, dir.path()).await,
        worker(&db, dir.path()).await,
        worker(&db, dir.path()).await,
    ];
    // The other 180 runs, through both nodes while the watched ones execute.
    let mut runs = watched.clone();
    for (i, q) in QUESTIONS.iter().cycle().take(180).enumerate() {
        let node = if i % 2 == 0 { &a.url } else { &b.url };
        runs.push(client.run(node, &project, q).await);
    }
    let finished = client
        .wait_all(&b.url, &runs, Duration::from_secs(1200))
        .await;
    for state in &finished {
        assert_eq!(state["status"], "succeeded", "{state}");
    }
    for (run, stream) in watched.iter().zip(streams) {
        let (streamed, done) = tokio::time::timeout(Duration::from_secs(60), stream)
            .await
            .unwrap()
            .unwrap();
        assert!(done.unwrap().contains("succeeded"));
        let stored = client.events(&a.url, run).await;
        let ids: Vec<i64> = streamed.iter().map(|(id, _)| *id).collect();
        let stored_ids: Vec<i64> = stored.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert_eq!(
            ids, stored_ids,
            "run {run}: the stream equals the stored event list"
        );
        assert_eq!(
            streamed.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
            stored
        );
    }
    drop(workers);
}
