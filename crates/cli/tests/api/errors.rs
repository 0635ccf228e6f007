use crate::helpers::{Options, TestApp, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn health_readiness_and_the_openapi_document_are_served() {
    let app = TestApp::with(Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    for path in ["/healthz", "/health"] {
        let body: Value = app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body, json!({ "status": "ok" }));
    }
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/projects",
        "/projects/{project_id}/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/events",
        "/runs/{run_id}/cancel",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_generated_otherwise() {
    let app = TestApp::with(Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-ID", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("X-Request-ID", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(!generated.is_empty() && generated != "bad id with spaces");
    app.stop().await;
}

#[tokio::test]
async fn bad_bodies_get_clear_problems_not_crashes() {
    let app = TestApp::with(Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let runs = format!("/projects/{project}/runs");
    let post = |path: &str| app.researcher(Method::POST, path);

    let malformed = post(&runs)
        .header("content-type", "application/json")
        .body("{\"question\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 400).await;
    let no_type = post(&runs)
        .body("{\"question\": \"x\"}")
        .send()
        .await
        .unwrap();
    assert_problem(no_type, 415).await;
    let huge = "x".repeat(3 * 1024 * 1024);
    let oversized = post(&runs)
        .header("content-type", "application/json")
        .body(format!("{{\"question\": \"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    assert_problem(oversized, 413).await;

    let missing = assert_problem(post(&runs).json(&json!({})).send().await.unwrap(), 422).await;
    assert!(
        missing["detail"].as_str().unwrap().contains("question")
            || missing["errors"].to_string().contains("question"),
        "{missing}"
    );
    let blank = assert_problem(
        post(&runs)
            .json(&json!({ "question": "   " }))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(blank["errors"]["question"].is_string(), "{blank}");
    let unknown = assert_problem(
        post(&runs)
            .json(&json!({ "question": "q", "sources": ["openalex"] }))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        unknown.to_string().contains("local"),
        "names the enabled sources: {unknown}"
    );
    let bogus = assert_problem(
        post(&runs)
            .json(&json!({ "question": "q", "sources": ["nope"] }))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(bogus.to_string().contains("nope"));
    let options = assert_problem(
        post(&runs)
            .json(&json!({ "question": "q", "options": { "max_sources": 0 } }))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(
        options["errors"]["options.max_sources"].is_string(),
        "{options}"
    );
    let wrong_type = post(&runs)
        .json(&json!({ "question": 42 }))
        .send()
        .await
        .unwrap();
    assert_problem(wrong_type, 422).await;
    let unnamed = post("/projects")
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_problem(unnamed, 422).await;
    // Unknown fields are ignored.
    let extra = post(&runs)
        .json(&json!({ "question": "vitamin D", "colour": "blue" }))
        .send()
        .await
        .unwrap();
    assert_eq!(extra.status(), 202);

    for path in [
        "/runs/not-a-uuid",
        "/projects/123",
        "/runs/not-a-uuid/events",
        "/no/such/route",
    ] {
        assert_problem(app.researcher(Method::GET, path).send().await.unwrap(), 404).await;
    }
    let bad_tenant = app
        .client
        .get(app.url("/projects"))
        .header("X-Dev-Tenant-Id", "tenant-1")
        .send()
        .await
        .unwrap();
    assert_problem(bad_tenant, 400).await;
    let bad_cursor = app
        .researcher(Method::GET, "/projects?cursor=garbage")
        .send()
        .await
        .unwrap();
    assert_problem(bad_cursor, 400).await;
    let too_large = app
        .researcher(Method::GET, "/projects?limit=100000")
        .send()
        .await
        .unwrap();
    assert_problem(too_large, 400).await;
    app.stop().await;
}

#[tokio::test]
async fn dev_bypass_is_refused_on_a_non_loopback_address() {
    #[derive(clap::Parser)]
    struct Args {
        #[command(flatten)]
        serve: researchops::serve::ServeArgs,
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    for host in ["0.0.0.0", "::"] {
        let argv = [
            "test",
            "--data-dir",
            &data,
            "--host",
            host,
            "--port",
            "0",
            "--dev-bypass-auth",
            "true",
            "--workers",
            "0",
        ];
        let args = <Args as clap::Parser>::try_parse_from(argv).unwrap();
        let refused = researchops::serve::start(args.serve)
            .await
            .err()
            .expect("refused to start");
        assert!(refused.to_string().contains("loopback"), "{refused}");
    }
}
