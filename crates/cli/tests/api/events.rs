use crate::helpers::{Options, TestApp, test_hooks};
use reqwest::Method;
use researchops::process::{SseEvent, read_sse};
use serde_json::Value;

async fn sse(app: &TestApp, run: &str, last_event_id: Option<i64>) -> reqwest::Response {
    let mut request = app
        .researcher(Method::GET, &format!("/runs/{run}/events"))
        .header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    request.send().await.unwrap()
}

async fn collect(response: reqwest::Response) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let read = read_sse(response, |e| {
        events.push(e.clone());
        false
    });
    tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("stream ends")
        .unwrap();
    events
}

#[tokio::test]
async fn a_live_stream_equals_the_stored_events_and_ends_with_done() {
    // The test hook holds `retrieve` for 2 s, so the stream is open while the run executes.
    let app = TestApp::with(Options {
        extra: test_hooks("retrieve=2000"),
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let run = app
        .create_run(&project, "Does vitamin D affect bone density?")
        .await;
    let response = sse(&app, &run, None).await;
    let opened = chrono::Utc::now();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    let streamed = collect(response).await;
    let done = streamed.last().unwrap();
    assert_eq!(done.event, "done");
    assert_eq!(
        serde_json::from_str::<Value>(&done.data).unwrap()["status"],
        "succeeded"
    );
    let (_, end) = app.get_json(&format!("/runs/{run}")).await;
    let finished =
        chrono::DateTime::parse_from_rfc3339(end["finished_at"].as_str().unwrap()).unwrap();
    assert!(
        finished > opened,
        "the run ended after the stream opened (a live stream, not a replay)"
    );
    let streamed: Vec<&SseEvent> = streamed.iter().filter(|e| e.event == "run_event").collect();
    let stored = app.events(&run).await;
    assert_eq!(streamed.len(), stored.len());
    for (s, e) in streamed.iter().zip(&stored) {
        assert_eq!(s.id.as_deref().unwrap(), e["id"].to_string());
        assert_eq!(serde_json::from_str::<Value>(&s.data).unwrap(), *e);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_reconnect_resumes_after_the_last_event_id_and_a_finished_stream_answers_204() {
    let app = TestApp::spawn().await;
    let project = app.create_project("P").await;
    let run = app.create_run(&project, "tumour macrophages").await;
    app.wait_terminal(&run).await;
    let stored = app.events(&run).await;
    let cut = stored[4]["id"].as_i64().unwrap();
    let resumed = collect(sse(&app, &run, Some(cut)).await).await;
    let ids: Vec<i64> = resumed
        .iter()
        .filter(|e| e.event == "run_event")
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<i64> = stored[5..]
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(resumed.last().unwrap().event, "done");
    // ?after_id= works the same way.
    let by_query = app
        .researcher(Method::GET, &format!("/runs/{run}/events?after_id={cut}"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(
        collect(by_query)
            .await
            .iter()
            .filter(|e| e.event == "run_event")
            .count(),
        expected.len()
    );
    let last = stored.last().unwrap()["id"].as_i64().unwrap();
    assert_eq!(sse(&app, &run, Some(last)).await.status(), 204);
    // JSON paging with after_id and limit.
    let (_, page) = app
        .get_json(&format!("/runs/{run}/events?after_id={cut}&limit=2"))
        .await;
    let page: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page, expected[..2]);
    app.stop().await;
}

#[tokio::test]
async fn a_stream_opened_on_a_queued_run_waits_and_sends_heartbeats() {
    let app = TestApp::with(Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let run = app.create_run(&project, "vitamin D").await;
    let response = sse(&app, &run, None).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    use futures::StreamExt;
    while !text.contains("\n:") && !text.starts_with(':') {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("a keep-alive within 5 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        text.contains("event: run_event"),
        "the two creation events are replayed first: {text}"
    );
    app.stop().await;
}
