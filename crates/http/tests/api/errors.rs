//! The conventions every route shares: request ids, problem+json, authentication, malformed input,
//! health probes and the OpenAPI document.

use crate::helpers::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn every_response_echoes_a_sane_request_id_and_replaces_an_insane_one() {
    let app = TestApp::new().await;
    let reply = app
        .get("/healthz")
        .header("x-request-id", "client-id_1.2")
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-request-id"), Some("client-id_1.2"));

    let reply = app
        .get("/healthz")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await;
    let generated = reply.header("x-request-id").expect("generated id");
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");

    let long = "a".repeat(129);
    let reply = app
        .get("/healthz")
        .header("x-request-id", &long)
        .send()
        .await;
    assert_ne!(reply.header("x-request-id"), Some(long.as_str()));

    let reply = app.get("/healthz").send().await;
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
    );
}

#[tokio::test]
async fn problem_bodies_carry_the_request_id_of_the_response() {
    let app = TestApp::new().await;
    let reply = app
        .get("/projects/not-a-uuid")
        .header("x-request-id", "trace-me")
        .send()
        .await;
    let body = reply.assert_problem(404);
    assert_eq!(body["request_id"], "trace-me");
    assert_eq!(body["type"], "https://researchops.dev/problems/not_found");
}

#[tokio::test]
async fn health_probes_answer_without_authentication() {
    let app = TestApp::with_config(|c| c.dev_bypass_auth = false).await;
    for path in ["/healthz", "/health"] {
        let reply = app.get(path).send().await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json(), json!({ "status": "ok" }));
    }
    let reply = app.get("/readyz").send().await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({ "status": "ready" }));
}

#[tokio::test]
async fn protected_routes_answer_401_without_the_development_bypass() {
    let app = TestApp::with_config(|c| c.dev_bypass_auth = false).await;
    let reply = app.get("/projects").send().await;
    reply.assert_problem(401);
    let reply = app
        .post("/projects")
        .json(json!({ "name": "x" }))
        .send()
        .await;
    reply.assert_problem(401);
}

#[tokio::test]
async fn bad_development_headers_are_400() {
    let app = TestApp::new().await;
    app.get("/projects")
        .tenant("tenant-one")
        .send()
        .await
        .assert_problem(400);
    app.get("/projects")
        .role("superuser")
        .send()
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_problems() {
    let app = TestApp::new().await;
    app.get("/nope").send().await.assert_problem(404);
    app.call(Method::PUT, "/projects")
        .send()
        .await
        .assert_problem(405);
}

#[tokio::test]
async fn malformed_bodies_map_to_400_415_413_and_422() {
    let app = TestApp::new().await;
    app.post("/projects")
        .raw(Some("application/json"), "{\"name\":")
        .send()
        .await
        .assert_problem(400);
    app.post("/projects")
        .raw(Some("text/plain"), "{\"name\":\"x\"}")
        .send()
        .await
        .assert_problem(415);
    app.post("/projects")
        .raw(None, "{\"name\":\"x\"}")
        .send()
        .await
        .assert_problem(415);

    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(32 * 1024));
    app.post("/projects")
        .raw(Some("application/json"), big)
        .send()
        .await
        .assert_problem(413);

    let body = app
        .post("/projects")
        .json(json!({ "description": "d" }))
        .send()
        .await
        .assert_problem(422);
    assert!(body["errors"]["name"].is_string(), "{body}");
    let body = app
        .post("/projects")
        .json(json!({ "name": 5 }))
        .send()
        .await
        .assert_problem(422);
    assert!(body["errors"]["name"].is_string(), "{body}");
}

#[tokio::test]
async fn malformed_ids_are_404_and_malformed_query_parameters_400() {
    let app = TestApp::new().await;
    app.get("/runs/123").send().await.assert_problem(404);
    app.get("/runs/123/events").send().await.assert_problem(404);
    app.get("/projects?limit=ten")
        .send()
        .await
        .assert_problem(400);
    app.get("/projects?cursor=garbage")
        .send()
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_the_docs_are_served() {
    let document = serde_json::to_value(researchops_http::openapi()).expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    for path in [
        "/healthz",
        "/health",
        "/readyz",
        "/projects",
        "/projects/{project_id}",
        "/projects/{project_id}/runs",
        "/runs/{run_id}",
        "/runs/{run_id}/status",
        "/runs/{run_id}/output",
        "/runs/{run_id}/context",
        "/runs/{run_id}/evidence",
        "/runs/{run_id}/claims",
        "/runs/{run_id}/artifacts",
        "/runs/{run_id}/artifacts/{artifact_id}",
        "/runs/{run_id}/cancel",
        "/runs/{run_id}/retry",
        "/runs/{run_id}/events",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} missing");
    }
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("component schemas");
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    for r in &refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(schemas.contains_key(name), "{r} is not defined");
    }
    for name in schemas.keys() {
        assert!(
            name.starts_with(|c: char| c.is_ascii_uppercase()),
            "schema {name} is not one of ours (a primitive leaked as a component?)"
        );
    }

    let app = TestApp::new().await;
    let served = app.get("/openapi.json").send().await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.json()["paths"], document["paths"]);
    let docs = app.get("/docs/").send().await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(docs.text().to_ascii_lowercase().contains("swagger"));
}

/// Every `$ref` in a JSON document.
fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r.to_owned()),
                    _ => collect_refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
