//! How live SSE streams are woken: only by their own run, by the process's fallback poll when no hint
//! came (a commit by another process on the same database), and never left behind in the event hub.

use crate::helpers::{SseEvent, TestApp, parse_sse};
use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use researchops_core::{RunEnd, RunId, Store};
use researchops_store_sqlite::{Durability, SqliteStore};
use std::time::Duration;

/// Reads an SSE body event by event, as a client would.
struct Reader {
    body: Body,
    buffer: String,
}

impl Reader {
    fn new(body: Body) -> Self {
        Self {
            body,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); `None` when the stream ended.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_sse(&block).into_iter().next() {
                    return Some(event);
                }
                continue;
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event or the end within 10 s")?
                .expect("body frame");
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// Reads `n` events.
    async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for _ in 0..n {
            events.push(self.next().await.expect("another event"));
        }
        events
    }

    /// Reads to the end of the stream.
    async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

async fn open(app: &TestApp, run: &str) -> Reader {
    let response = app
        .get(&format!("/runs/{run}/events"))
        .header("accept", "text/event-stream")
        .response()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    Reader::new(response.into_body())
}

/// Waits until `n` streams are parked on the hub, waiting for a hint: from then on, whatever is
/// committed can only reach them live.
async fn until_parked(app: &TestApp, n: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while app.store.events().parked() != n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the streams park within 10 s");
}

fn ids(events: &[SseEvent]) -> Vec<String> {
    events.iter().filter_map(|e| e.id.clone()).collect()
}

async fn stored_ids(app: &TestApp, run: &str) -> Vec<String> {
    let all = app.get(&format!("/runs/{run}/events")).send().await.json();
    all.as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].to_string())
        .collect()
}

#[tokio::test]
async fn streams_watch_only_their_own_run_and_leave_the_hub_when_they_end_or_drop() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let (a, b) = (app.run(&project, "A?").await, app.run(&project, "B?").await);
    let hub = app.store.events();
    let mut stream_a = open(&app, &a).await;
    let mut stream_b = open(&app, &b).await;
    // Each stream replays its run's two events.
    assert_eq!(stream_a.take(2).await.len(), 2);
    assert_eq!(stream_b.take(2).await.len(), 2);
    assert_eq!(hub.watchers(), 2);
    // Read A in the background until it parks: what comes next can only reach it live.
    let reading_a = tokio::spawn(async move { stream_a.rest().await });
    until_parked(&app, 1).await;
    let mut watched = hub.watched_runs();
    watched.sort();
    let mut expected: Vec<RunId> = [&a, &b].iter().map(|r| r.parse().expect("id")).collect();
    expected.sort();
    assert_eq!(watched, expected);

    // Run A's commits reach A's stream, which ends with `done` and leaves the hub.
    app.execute(&a, RunEnd::Succeeded).await;
    let rest = reading_a.await.expect("reader");
    assert_eq!(rest.last().and_then(|e| e.event.as_deref()), Some("done"));
    assert_eq!(stored_ids(&app, &a).await[2..], ids(&rest));
    assert_eq!(hub.watched_runs(), vec![b.parse::<RunId>().expect("id")]);

    // A client that goes away takes its watcher with it.
    drop(stream_b);
    assert_eq!(hub.watchers(), 0);
    assert!(hub.watched_runs().is_empty());
}

#[tokio::test]
async fn a_stream_hears_of_events_committed_by_another_process_through_the_fallback_poll() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;
    // Another process on the same database: its commits publish on its own hub, never on the app's.
    let other = SqliteStore::open(&app.database_path(), Durability::Normal)
        .await
        .expect("second store");
    let mut stream = open(&app, &run).await;
    assert_eq!(stream.take(2).await.len(), 2);
    let reading = tokio::spawn(async move { stream.rest().await });
    until_parked(&app, 1).await;
    app.execute_on(&other, &run, RunEnd::Succeeded).await;
    let rest = reading.await.expect("reader");
    assert_eq!(
        rest.last().map(|e| e.data.as_str()),
        Some(r#"{"status":"succeeded"}"#)
    );
    let stored = stored_ids(&app, &run).await;
    assert!(stored.len() > 2);
    assert_eq!(stored[2..], ids(&rest));
    other.close().await;
}
