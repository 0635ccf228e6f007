//! `GET /runs/{run_id}/events`: the JSON log and the SSE stream (resume, `done`, 204, shutdown).

use crate::helpers::{OTHER_TENANT, TestApp, parse_sse};
use axum::http::StatusCode;
use http_body_util::BodyExt;
use researchops_core::RunEnd;
use std::time::Duration;

#[tokio::test]
async fn the_json_log_lists_events_in_order_after_a_cursor_and_up_to_a_limit() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;

    let reply = app
        .get(&format!("/runs/{run}/events"))
        .role("viewer")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let events = reply.json();
    let events = events.as_array().expect("a bare array");
    let types: Vec<_> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types, ["run.created", "run.queued"]);
    for field in [
        "id",
        "ts",
        "level",
        "stage",
        "event_type",
        "message",
        "payload",
    ] {
        assert!(events[0].get(field).is_some(), "{field}");
    }
    let first = events[0]["id"].as_i64().expect("id");

    let after = app
        .get(&format!("/runs/{run}/events?after_id={first}"))
        .send()
        .await
        .json();
    assert_eq!(after.as_array().map(Vec::len), Some(1));
    let limited = app
        .get(&format!("/runs/{run}/events?limit=1"))
        .send()
        .await
        .json();
    assert_eq!(limited.as_array().map(Vec::len), Some(1));
    for out_of_range in ["0", "5001", "999999", "4294967296"] {
        app.get(&format!("/runs/{run}/events?limit={out_of_range}"))
            .send()
            .await
            .assert_problem(400);
    }
    let largest = app
        .get(&format!("/runs/{run}/events?limit=5000"))
        .send()
        .await;
    assert_eq!(largest.status, StatusCode::OK);

    app.get(&format!("/runs/{run}/events?after_id=x"))
        .send()
        .await
        .assert_problem(400);
    app.get(&format!("/runs/{run}/events"))
        .tenant(OTHER_TENANT)
        .send()
        .await
        .assert_problem(404);
    app.get(&format!("/runs/{}/events", uuid::Uuid::new_v4()))
        .send()
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn a_stream_of_a_finished_run_sends_everything_then_done_and_a_reconnect_gets_204() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;
    app.execute(&run, RunEnd::Succeeded).await;
    let all = app.get(&format!("/runs/{run}/events")).send().await.json();
    let all = all.as_array().expect("array").clone();

    let reply = app
        .get(&format!("/runs/{run}/events"))
        .header("accept", "text/event-stream")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"))
    );
    assert_eq!(reply.header("x-accel-buffering"), Some("no"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    let events = parse_sse(&reply.text());
    let (done, run_events) = events.split_last().expect("events");
    assert_eq!(done.event.as_deref(), Some("done"));
    assert_eq!(done.data, r#"{"status":"succeeded"}"#);
    assert_eq!(run_events.len(), all.len());
    for (sse, json) in run_events.iter().zip(&all) {
        assert_eq!(sse.event.as_deref(), Some("run_event"));
        assert_eq!(sse.id.as_deref(), Some(json["id"].to_string().as_str()));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&sse.data).expect("json"),
            *json
        );
    }

    // Resuming in the middle sends exactly the rest.
    let middle = all[1]["id"].to_string();
    let resumed = app
        .get(&format!("/runs/{run}/events"))
        .header("accept", "text/event-stream")
        .header("last-event-id", &middle)
        .send()
        .await;
    let resumed = parse_sse(&resumed.text());
    assert_eq!(resumed.len(), all.len() - 2 + 1);
    assert_eq!(
        resumed[0].id.as_deref(),
        Some(all[2]["id"].to_string().as_str())
    );

    let last = all.last().expect("events")["id"].to_string();
    let reconnect = app
        .get(&format!("/runs/{run}/events"))
        .header("accept", "text/event-stream")
        .header("last-event-id", &last)
        .send()
        .await;
    assert_eq!(reconnect.status, StatusCode::NO_CONTENT);
    let via_query = app
        .get(&format!("/runs/{run}/events?after_id={last}"))
        .header("accept", "text/event-stream")
        .send()
        .await;
    assert_eq!(via_query.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_live_stream_follows_the_run_to_its_end_without_duplicates() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;

    let response = app
        .get(&format!("/runs/{run}/events"))
        .header("accept", "text/event-stream")
        .response()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (replayed, body) = read_events(response.into_body(), 2).await;
    let collect = tokio::spawn(async move { body.collect().await.map(|c| c.to_bytes()) });
    // The stream has replayed the run's creation: it is live now, before the run executes.
    app.execute(&run, RunEnd::Succeeded).await;

    let bytes = tokio::time::timeout(Duration::from_secs(10), collect)
        .await
        .expect("the stream ends after the run")
        .expect("task")
        .expect("body");
    let events = parse_sse(&(replayed + &String::from_utf8_lossy(&bytes)));
    let all = app.get(&format!("/runs/{run}/events")).send().await.json();
    let all = all.as_array().expect("array");
    let ids: Vec<String> = events.iter().filter_map(|e| e.id.clone()).collect();
    let expected: Vec<String> = all.iter().map(|e| e["id"].to_string()).collect();
    assert_eq!(ids, expected);
    assert_eq!(
        events.last().map(|e| e.data.as_str()),
        Some(r#"{"status":"succeeded"}"#)
    );
}

#[tokio::test]
async fn streams_end_when_the_server_shuts_down() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;
    let response = app
        .get(&format!("/runs/{run}/events"))
        .header("accept", "text/event-stream")
        .response()
        .await;
    let (replayed, body) = read_events(response.into_body(), 2).await;
    let collect = tokio::spawn(async move { body.collect().await.map(|c| c.to_bytes()) });
    app.shutdown.cancel();
    let bytes = tokio::time::timeout(Duration::from_secs(5), collect)
        .await
        .expect("the stream ends on shutdown")
        .expect("task")
        .expect("body");
    let events = parse_sse(&(replayed + &String::from_utf8_lossy(&bytes)));
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.event.as_deref() == Some("run_event"))
    );
}

#[tokio::test]
async fn a_stream_of_an_unknown_run_is_404() {
    let app = TestApp::new().await;
    let reply = app
        .get(&format!("/runs/{}/events", uuid::Uuid::new_v4()))
        .header("accept", "text/event-stream")
        .send()
        .await;
    reply.assert_problem(404);
}

/// Reads a stream until `n` events arrived (at most 10 s); returns their text and the rest of the body.
async fn read_events(mut body: axum::body::Body, n: usize) -> (String, axum::body::Body) {
    let mut text = String::new();
    while parse_sse(&text)
        .iter()
        .filter(|e| e.event.is_some())
        .count()
        < n
    {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("events within 10 s")
            .expect("the stream stays open")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    (text, body)
}
