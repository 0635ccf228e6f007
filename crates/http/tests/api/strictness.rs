//! Input strictness at the edge: arrays where objects belong, empty identity headers, echoed values,
//! `Content-Encoding`, control characters, out-of-range limits and `Accept` q-values.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_array_is_refused_where_an_object_is_expected() {
    let app = TestApp::new().await;
    let project = app.project("Strict").await;
    let body = app
        .post(&format!("/projects/{project}/runs"))
        .json(json!({ "question": "What is X?", "options": [1] }))
        .send()
        .await
        .assert_problem(422);
    assert!(body["errors"]["options"].is_string(), "{body}");
    app.post("/projects")
        .json(json!(["a name"]))
        .send()
        .await
        .assert_problem(422);
    // An object still works, and `null` still means the defaults.
    let ok = app
        .post(&format!("/projects/{project}/runs"))
        .json(json!({ "question": "What is X?", "options": { "max_sources": 3 } }))
        .send()
        .await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text());
}

#[tokio::test]
async fn an_empty_tenant_or_user_header_is_a_400_not_the_default_identity() {
    let app = TestApp::new().await;
    app.get("/projects")
        .tenant("")
        .send()
        .await
        .assert_problem(400);
    app.get("/projects")
        .header("x-dev-user-id", " ")
        .send()
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn error_details_echo_only_a_bounded_excerpt_of_a_header() {
    let app = TestApp::new().await;
    let long = "t".repeat(10_000);
    let body = app
        .get("/projects")
        .tenant(&long)
        .send()
        .await
        .assert_problem(400);
    let detail = body["detail"].as_str().expect("detail");
    assert!(detail.chars().count() < 300, "{} chars", detail.len());
    assert!(detail.contains('…'));
}

#[tokio::test]
async fn a_compressed_body_is_a_415() {
    let app = TestApp::new().await;
    for encoding in ["gzip", "br", "identity, deflate"] {
        let reply = app
            .post("/projects")
            .header("content-encoding", encoding)
            .json(json!({ "name": "Zipped" }))
            .send()
            .await;
        let body = reply.assert_problem(415);
        assert_eq!(reply.header("accept-encoding"), Some("identity"));
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Content-Encoding"))
        );
    }
    let plain = app
        .post("/projects")
        .header("content-encoding", "identity")
        .json(json!({ "name": "Plain" }))
        .send()
        .await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.text());
}

#[tokio::test]
async fn control_characters_are_refused_in_names_descriptions_and_questions() {
    let app = TestApp::new().await;
    for name in [
        "a\u{0}b",
        "line\nbreak",
        "tab\there",
        "bell\u{7}",
        "c1\u{85}",
    ] {
        let body = app
            .post("/projects")
            .json(json!({ "name": name }))
            .send()
            .await
            .assert_problem(422);
        assert!(body["errors"]["name"].is_string(), "{name:?}: {body}");
    }
    app.post("/projects")
        .json(json!({ "name": "ok", "description": "esc\u{1b}[31m" }))
        .send()
        .await
        .assert_problem(422);
    let multi_line = app
        .post("/projects")
        .json(json!({ "name": "ok", "description": "one\r\ntwo\tthree" }))
        .send()
        .await;
    assert_eq!(
        multi_line.status,
        StatusCode::CREATED,
        "{}",
        multi_line.text()
    );

    let project = app.project("Questions").await;
    let runs = format!("/projects/{project}/runs");
    app.post(&runs)
        .json(json!({ "question": "nul\u{0}byte" }))
        .send()
        .await
        .assert_problem(422);
    app.post(&runs)
        .json(json!({ "question": "What?", "client_request_id": "key\u{7f}" }))
        .send()
        .await
        .assert_problem(422);
    let ok = app
        .post(&runs)
        .json(json!({ "question": "First line\nsecond\tline" }))
        .send()
        .await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text());
}

#[tokio::test]
async fn list_limits_out_of_range_are_400_not_clamped() {
    let app = TestApp::new().await;
    let project = app.project("Limits").await;
    for limit in ["0", "201", "2147483648", "4294967296", "-1"] {
        app.get(&format!("/projects?limit={limit}"))
            .send()
            .await
            .assert_problem(400);
        app.get(&format!("/projects/{project}/runs?limit={limit}"))
            .send()
            .await
            .assert_problem(400);
    }
    let ok = app.get("/projects?limit=200").send().await;
    assert_eq!(ok.status, StatusCode::OK);
    app.get("/projects?cursor=")
        .send()
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn the_events_endpoint_honours_accept_q_values() {
    let app = TestApp::new().await;
    let project = app.project("Accept").await;
    let run = app.run(&project, "What is X?").await;
    let uri = format!("/runs/{run}/events");
    let json_type =
        |reply: &crate::helpers::Reply| reply.header("content-type").unwrap_or_default().to_owned();
    let refused = app
        .get(&uri)
        .header("accept", "text/event-stream;q=0, application/json")
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(json_type(&refused).starts_with("application/json"));

    // A malformed `Last-Event-ID` is a 400 in JSON mode too, where it is not used.
    app.get(&uri)
        .header("last-event-id", "not-a-number")
        .send()
        .await
        .assert_problem(400);

    let preferred = app
        .get(&uri)
        .header("accept", "application/json;q=0.5, text/event-stream")
        .response()
        .await;
    assert_eq!(preferred.status(), StatusCode::OK);
    assert!(
        preferred.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/event-stream"))
    );
}
