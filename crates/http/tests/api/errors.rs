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

#[test]
fn the_openapi_document_tells_the_truth_about_errors_limits_and_links() {
    let document = researchops_http::openapi();
    let mut operation_ids = std::collections::BTreeSet::new();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().expect("operationId").to_owned();
            assert!(
                operation_ids.insert(id.clone()),
                "duplicate operationId {id}"
            );
            operations.push((format!("{method} {path}"), op));
        }
    }
    for (name, op) in &operations {
        let responses = op["responses"].as_object().expect("responses");
        if op.get("requestBody").is_some() {
            for status in ["400", "408", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{name} lacks {status}");
            }
        }
        if !name.contains("/health") && !name.contains("/readyz") {
            assert!(responses.contains_key("400"), "{name} lacks 400");
            assert!(responses.contains_key("401"), "{name} lacks 401");
        }
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "header" {
                assert!(
                    param["schema"]["type"].is_string(),
                    "{name}: header {} may not be null: {}",
                    param["name"],
                    param["schema"]
                );
            }
            if param["name"] == "limit" {
                let schema = &param["schema"];
                assert!(
                    schema["maximum"].as_u64().is_some_and(|m| m <= 5000),
                    "{name}: limit without a maximum: {schema}"
                );
                assert_eq!(schema["minimum"], 1, "{name}");
            }
        }
        // Every link names an existing operation and only that operation's parameters.
        for (status, response) in responses {
            for (link, target) in response["links"].as_object().into_iter().flatten() {
                let target_id = target["operationId"].as_str().expect("link operationId");
                let (_, target_op) = operations
                    .iter()
                    .find(|(_, op)| op["operationId"] == target_id)
                    .unwrap_or_else(|| panic!("{name} {status} {link}: no {target_id}"));
                for parameter in target["parameters"].as_object().expect("parameters").keys() {
                    assert!(
                        target_op["parameters"]
                            .as_array()
                            .is_some_and(|ps| ps.iter().any(|p| p["name"] == parameter.as_str())),
                        "{name} {status} {link}: {target_id} has no parameter {parameter}"
                    );
                }
            }
        }
    }
    let create_run_links =
        &document["paths"]["/projects/{project_id}/runs"]["post"]["responses"]["202"]["links"];
    for link in [
        "GetRun",
        "GetRunStatus",
        "GetEvents",
        "GetRunOutput",
        "CancelRun",
        "RetryRun",
    ] {
        assert!(
            create_run_links.get(link).is_some(),
            "create_run lacks {link}"
        );
    }
    assert!(
        document["paths"]["/projects"]["post"]["responses"]["201"]["links"]
            .get("CreateRun")
            .is_some()
    );

    let schemas = &document["components"]["schemas"];
    let name = &schemas["CreateProjectBody"]["properties"]["name"];
    assert_eq!(name["minLength"], 1);
    assert_eq!(name["maxLength"], 200);
    assert!(name["pattern"].is_string());
    let question = &schemas["CreateRunBody"]["properties"]["question"];
    assert_eq!(question["maxLength"], 2000);
    for (field, max) in [
        ("max_sources", 50),
        ("max_sections", 12),
        ("claims_per_section", 20),
    ] {
        let option = &schemas["RunOptions"]["properties"][field];
        assert_eq!(option["minimum"], 1, "{field}");
        assert_eq!(option["maximum"], max, "{field}");
    }

    let download = &document["paths"]["/runs/{run_id}/artifacts/{artifact_id}"]["get"]["responses"];
    for media in ["text/markdown", "text/html", "application/json"] {
        assert!(
            download["200"]["content"].get(media).is_some(),
            "200 {media}"
        );
        assert!(
            download["206"]["content"].get(media).is_some(),
            "206 {media}"
        );
    }
    assert!(download.get("416").is_some());
}

/// The schema patterns say what the validation functions enforce.
#[test]
fn the_schema_patterns_agree_with_the_validation_rules() {
    use researchops_http::validation::{TextKind, forbidden_char};
    let document = researchops_http::openapi();
    let schemas = &document["components"]["schemas"];
    let pattern = |schema: &str, field: &str| {
        let text = schemas[schema]["properties"][field]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{schema}.{field} has no pattern"));
        regex::Regex::new(text).expect("pattern compiles")
    };
    let name = pattern("CreateProjectBody", "name");
    let question = pattern("CreateRunBody", "question");
    let description = pattern("CreateProjectBody", "description");
    let samples = [
        "plain",
        " padded ",
        "",
        "   ",
        "\t",
        "a\tb",
        "a\nb",
        "a\r\nb",
        "\u{0}",
        "x\u{7}y",
        "x\u{7f}",
        "x\u{85}",
        "\u{a0}",
        "x\u{a0}",
        "\u{3000}",
        "\u{2028}x",
        "\u{feff}",
        "é",
        "\u{1f600}",
    ];
    for raw in samples {
        let text = raw.to_owned();
        let visible = !text.trim().is_empty();
        let single = forbidden_char(&text, TextKind::SingleLine).is_none();
        let multi = forbidden_char(&text, TextKind::MultiLine).is_none();
        assert_eq!(name.is_match(&text), single && visible, "name {raw:?}");
        assert_eq!(
            question.is_match(&text),
            multi && visible,
            "question {raw:?}"
        );
        assert_eq!(description.is_match(&text), multi, "description {raw:?}");
    }
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
