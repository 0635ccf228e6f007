//! Runs: creation and idempotency, validation, reads, results, downloads, cancel and retry.

use crate::helpers::{OTHER_TENANT, TestApp};
use axum::http::StatusCode;
use researchops_core::RunEnd;
use serde_json::json;

#[tokio::test]
async fn creating_a_run_is_idempotent_on_client_request_id() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let uri = format!("/projects/{project}/runs");
    let body =
        json!({ "question": "What is X?", "client_request_id": "req-1", "sources": ["local"] });

    let first = app
        .post(&uri)
        .role("researcher")
        .json(body.clone())
        .send()
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text());
    assert_eq!(first.json()["status"], "queued");
    let run_id = first.json()["run_id"].as_str().expect("run_id").to_owned();

    let again = app.post(&uri).json(body).send().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json(),
        json!({ "run_id": run_id, "status": "queued" })
    );

    let different = json!({ "question": "Something else?", "client_request_id": "req-1", "sources": ["local"] });
    app.post(&uri)
        .json(different)
        .send()
        .await
        .assert_problem(409);
}

#[tokio::test]
async fn run_creation_needs_a_researcher_and_a_known_project() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    app.post(&format!("/projects/{project}/runs"))
        .role("viewer")
        .json(json!({ "question": "q?" }))
        .send()
        .await
        .assert_problem(403);
    let unknown = uuid::Uuid::new_v4();
    app.post(&format!("/projects/{unknown}/runs"))
        .json(json!({ "question": "q?" }))
        .send()
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn invalid_runs_are_422_and_sources_errors_name_the_enabled_ones() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let uri = format!("/projects/{project}/runs");

    let body = app
        .post(&uri)
        .json(json!({ "question": "q", "sources": ["openalex"] }))
        .send()
        .await
        .assert_problem(422);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("local") && d.contains("kb")),
        "{body}"
    );
    assert!(body["errors"]["sources"].is_string());
    app.post(&uri)
        .json(json!({ "question": "q", "sources": [] }))
        .send()
        .await
        .assert_problem(422);
    app.post(&uri)
        .json(json!({ "question": "  " }))
        .send()
        .await
        .assert_problem(422);
    app.post(&uri)
        .json(json!({ "question": "q", "client_request_id": "k".repeat(201) }))
        .send()
        .await
        .assert_problem(422);
    let body = app
        .post(&uri)
        .json(json!({ "question": "q", "options": { "max_sources": 0 } }))
        .send()
        .await
        .assert_problem(422);
    assert!(body["errors"]["options.max_sources"].is_string(), "{body}");
    let body = app
        .post(&uri)
        .json(json!({ "client_request_id": "x" }))
        .send()
        .await
        .assert_problem(422);
    assert!(body["errors"]["question"].is_string(), "{body}");
}

#[tokio::test]
async fn a_new_run_can_be_read_listed_and_polled() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app
        .post(&format!("/projects/{project}/runs"))
        .json(json!({ "question": " What is X? ", "sources": ["local", "kb", "local"], "options": { "max_sources": 5 } }))
        .send()
        .await
        .json()["run_id"]
        .as_str()
        .expect("run_id")
        .to_owned();

    let detail = app.get(&format!("/runs/{run}")).role("viewer").send().await;
    assert_eq!(detail.status, StatusCode::OK);
    let detail = detail.json();
    assert_eq!(detail["id"], run.as_str());
    assert_eq!(detail["project_id"], project.as_str());
    assert_eq!(detail["question"], "What is X?");
    assert_eq!(detail["status"], "queued");
    assert_eq!(detail["sources"], json!(["kb", "local"]));
    assert_eq!(detail["options"]["max_sources"], 5);
    assert_eq!(detail["artifacts"], json!([]));
    assert_eq!(detail["retry_count"], 0);

    let status = app.get(&format!("/runs/{run}/status")).send().await.json();
    assert_eq!(status["run_id"], run.as_str());
    assert_eq!(status["status"], "queued");
    assert!(status["completed_at"].is_null() && status["error"].is_null());

    let list = app
        .get(&format!("/projects/{project}/runs"))
        .send()
        .await
        .json();
    assert_eq!(list["items"][0]["id"], run.as_str());

    app.get(&format!("/runs/{run}/output"))
        .send()
        .await
        .assert_problem(409);
    app.get(&format!("/runs/{run}/context"))
        .send()
        .await
        .assert_problem(409);
    assert_eq!(
        app.get(&format!("/runs/{run}/evidence"))
            .send()
            .await
            .json(),
        json!({ "items": [] })
    );
    assert_eq!(
        app.get(&format!("/runs/{run}/claims")).send().await.json(),
        json!({ "items": [] })
    );
    app.get(&format!("/runs/{run}"))
        .tenant(OTHER_TENANT)
        .send()
        .await
        .assert_problem(404);
    app.get(&format!("/runs/{run}/evidence"))
        .tenant(OTHER_TENANT)
        .send()
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn a_succeeded_run_serves_its_report_context_and_artifacts() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;
    let artifacts = app.execute(&run, RunEnd::Succeeded).await;

    let output = app.get(&format!("/runs/{run}/output")).send().await;
    assert_eq!(output.status, StatusCode::OK, "{}", output.text());
    assert_eq!(output.json()["status"], "succeeded");
    assert!(
        output.json()["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("# Report"))
    );

    let context = app.get(&format!("/runs/{run}/context")).send().await.json();
    assert_eq!(context["context_bundle"]["question"], "q");

    let status = app.get(&format!("/runs/{run}/status")).send().await.json();
    assert_eq!(status["status"], "succeeded");
    assert!(status["completed_at"].is_string());

    let list = app
        .get(&format!("/runs/{run}/artifacts"))
        .send()
        .await
        .json();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let report = items
        .iter()
        .find(|a| a["name"] == "report.md")
        .expect("report");
    let url = report["download_url"].as_str().expect("url").to_owned();
    assert_eq!(
        url,
        format!(
            "/runs/{run}/artifacts/{}",
            report["id"].as_str().expect("id")
        )
    );
    for field in [
        "id",
        "name",
        "kind",
        "mime_type",
        "size_bytes",
        "sha256",
        "created_at",
    ] {
        assert!(report.get(field).is_some(), "{field}");
    }
    let detail = app.get(&format!("/runs/{run}")).send().await.json();
    assert_eq!(detail["artifacts"].as_array().map(Vec::len), Some(2));

    let sha = &artifacts[0].sha256;
    let full = app.get(&url).role("viewer").send().await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.text(), "# Report\n\nThe answer is 42.\n");
    assert_eq!(
        full.header("content-type"),
        Some("text/markdown; charset=utf-8")
    );
    assert_eq!(
        full.header("content-disposition"),
        Some("attachment; filename=\"report.md\"")
    );
    assert_eq!(full.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));

    let cached = app
        .get(&url)
        .header("if-none-match", &format!("\"{sha}\""))
        .send()
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());

    let part = app.get(&url).header("range", "bytes=0-7").send().await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.text(), "# Report");
    assert_eq!(part.header("content-range"), Some("bytes 0-7/28"));
    let tail = app.get(&url).header("range", "bytes=-3").send().await;
    assert_eq!(tail.text(), "2.\n");

    let beyond = app.get(&url).header("range", "bytes=500-").send().await;
    beyond.assert_problem(416);
    assert_eq!(beyond.header("content-range"), Some("bytes */28"));

    let other = uuid::Uuid::new_v4();
    app.get(&format!("/runs/{run}/artifacts/{other}"))
        .send()
        .await
        .assert_problem(404);
    app.get(&url)
        .tenant(OTHER_TENANT)
        .send()
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn a_failed_run_explains_itself_and_can_be_retried_once_failed() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;
    let end = RunEnd::Failed {
        code: researchops_core::FailureCode::NoEvidence,
        reason: "nothing matched".into(),
        stage: None,
    };
    app.execute(&run, end).await;

    let body = app
        .get(&format!("/runs/{run}/output"))
        .send()
        .await
        .assert_problem(409);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no_evidence") && d.contains("nothing matched"))
    );
    let status = app.get(&format!("/runs/{run}/status")).send().await.json();
    assert_eq!(
        status["error"],
        json!({ "code": "no_evidence", "message": "nothing matched" })
    );

    app.post(&format!("/runs/{run}/retry"))
        .role("viewer")
        .send()
        .await
        .assert_problem(403);
    let retried = app
        .post(&format!("/runs/{run}/retry"))
        .role("researcher")
        .send()
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text());
    assert_eq!(retried.json()["status"], "queued");
    assert_eq!(retried.json()["retry_count"], 1);
    app.post(&format!("/runs/{run}/retry"))
        .send()
        .await
        .assert_problem(409);
}

#[tokio::test]
async fn cancelling_a_queued_run_ends_it_and_repeating_changes_nothing() {
    let app = TestApp::new().await;
    let project = app.project("p").await;
    let run = app.run(&project, "What is X?").await;
    app.post(&format!("/runs/{run}/cancel"))
        .role("viewer")
        .send()
        .await
        .assert_problem(403);
    let canceled = app
        .post(&format!("/runs/{run}/cancel"))
        .role("researcher")
        .send()
        .await;
    assert_eq!(canceled.status, StatusCode::OK);
    assert_eq!(canceled.json()["status"], "canceled");
    let again = app.post(&format!("/runs/{run}/cancel")).send().await;
    assert_eq!(again.json()["status"], "canceled");
    app.get(&format!("/runs/{run}/output"))
        .send()
        .await
        .assert_problem(409);
    app.post(&format!("/runs/{run}/retry"))
        .send()
        .await
        .assert_problem(409);
    app.post(&format!("/runs/{}/cancel", uuid::Uuid::new_v4()))
        .send()
        .await
        .assert_problem(404);
}
