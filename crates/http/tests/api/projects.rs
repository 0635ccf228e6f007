//! `/projects`: the CRUD cycle, roles and tenant isolation.

use crate::helpers::{OTHER_TENANT, TestApp};
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_project_can_be_created_listed_read_patched_and_deleted() {
    let app = TestApp::new().await;
    let reply = app
        .post("/projects")
        .json(json!({ "name": "  Climate  ", "description": "About heat" }))
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let project = reply.json();
    let id = project["id"].as_str().expect("id").to_owned();
    assert_eq!(project["name"], "Climate");
    assert_eq!(project["description"], "About heat");
    assert!(project["created_at"].is_string() && project["last_activity_at"].is_string());
    assert_eq!(
        reply.header("location"),
        Some(format!("/projects/{id}").as_str())
    );

    let list = app.get("/projects").role("viewer").send().await.json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(list.get("next_cursor").is_some());

    let read = app
        .get(&format!("/projects/{id}"))
        .role("viewer")
        .send()
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["id"], id.as_str());

    let patched = app
        .call(Method::PATCH, &format!("/projects/{id}"))
        .role("researcher")
        .json(json!({ "name": "Weather" }))
        .send()
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
    assert_eq!(patched.json()["name"], "Weather");
    assert_eq!(patched.json()["description"], "About heat");

    let cleared = app
        .call(Method::PATCH, &format!("/projects/{id}"))
        .json(json!({ "description": null }))
        .send()
        .await;
    assert_eq!(cleared.json()["description"], serde_json::Value::Null);
    assert_eq!(cleared.json()["name"], "Weather");

    let deleted = app
        .call(Method::DELETE, &format!("/projects/{id}"))
        .role("admin")
        .send()
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&format!("/projects/{id}"))
        .send()
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn lists_are_paginated_with_a_cursor() {
    let app = TestApp::new().await;
    for i in 0..3 {
        app.project(&format!("p{i}")).await;
    }
    let first = app.get("/projects?limit=2").send().await.json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("a next cursor");
    let second = app
        .get(&format!("/projects?limit=2&cursor={cursor}"))
        .send()
        .await
        .json();
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert!(second["next_cursor"].is_null());
}

#[tokio::test]
async fn roles_below_the_route_requirement_are_403() {
    let app = TestApp::new().await;
    app.post("/projects")
        .role("viewer")
        .json(json!({ "name": "x" }))
        .send()
        .await
        .assert_problem(403);
    let id = app.project("mine").await;
    app.call(Method::PATCH, &format!("/projects/{id}"))
        .role("viewer")
        .json(json!({ "name": "y" }))
        .send()
        .await
        .assert_problem(403);
    app.call(Method::DELETE, &format!("/projects/{id}"))
        .role("researcher")
        .send()
        .await
        .assert_problem(403);
    // The default role is viewer.
    app.post("/projects")
        .header("x-dev-roles", "")
        .json(json!({ "name": "x" }))
        .send()
        .await
        .assert_problem(403);
}

#[tokio::test]
async fn another_tenants_project_is_404_everywhere() {
    let app = TestApp::new().await;
    let id = app.project("secret").await;
    app.get(&format!("/projects/{id}"))
        .tenant(OTHER_TENANT)
        .send()
        .await
        .assert_problem(404);
    app.call(Method::PATCH, &format!("/projects/{id}"))
        .tenant(OTHER_TENANT)
        .json(json!({ "name": "x" }))
        .send()
        .await
        .assert_problem(404);
    app.call(Method::DELETE, &format!("/projects/{id}"))
        .tenant(OTHER_TENANT)
        .send()
        .await
        .assert_problem(404);
    app.post(&format!("/projects/{id}/runs"))
        .tenant(OTHER_TENANT)
        .json(json!({ "question": "q?" }))
        .send()
        .await
        .assert_problem(404);
    let list = app
        .get("/projects")
        .tenant(OTHER_TENANT)
        .send()
        .await
        .json();
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn invalid_project_fields_are_422_naming_each_field() {
    let app = TestApp::new().await;
    let body = app
        .post("/projects")
        .json(json!({ "name": "   ", "description": "d".repeat(2001) }))
        .send()
        .await
        .assert_problem(422);
    assert!(
        body["errors"]["name"].is_string() && body["errors"]["description"].is_string(),
        "{body}"
    );
    let name = "n".repeat(201);
    app.post("/projects")
        .json(json!({ "name": name }))
        .send()
        .await
        .assert_problem(422);
}

#[tokio::test]
async fn a_project_with_an_active_run_cannot_be_deleted() {
    let app = TestApp::new().await;
    let id = app.project("busy").await;
    app.run(&id, "What is X?").await;
    app.call(Method::DELETE, &format!("/projects/{id}"))
        .send()
        .await
        .assert_problem(409);
}
