use crate::helpers::{TENANT_A, TENANT_B, TestApp, assert_problem};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn projects_can_be_created_listed_patched_and_deleted() {
    let app = TestApp::spawn().await;
    let first = app.create_project("First").await;
    let second = app.create_project("Second").await;
    let (status, list) = app.get_json("/projects").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Second", "First"], "most recent activity first");
    let (_, page) = app.get_json("/projects?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = app
        .get_json(&format!("/projects?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["items"][0]["id"], first.as_str());

    let patched: Value = app
        .researcher(Method::PATCH, &format!("/projects/{second}"))
        .json(&json!({ "description": "about things" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (patched["name"].as_str(), patched["description"].as_str()),
        (Some("Second"), Some("about things"))
    );

    let response = app
        .researcher(Method::DELETE, &format!("/projects/{first}"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403).await;
    let response = app
        .as_user(
            Method::DELETE,
            &format!("/projects/{first}"),
            TENANT_A,
            "admin",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = app.get_json(&format!("/projects/{first}")).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_projects_and_runs_are_not_found() {
    let app = TestApp::with(crate::helpers::Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let project = app.create_project("Mine").await;
    let run = app.create_run(&project, "vitamin D and bone density").await;
    for path in [
        format!("/projects/{project}"),
        format!("/projects/{project}/runs"),
        format!("/runs/{run}"),
        format!("/runs/{run}/status"),
        format!("/runs/{run}/events"),
        format!("/runs/{run}/claims"),
        format!("/runs/{run}/artifacts"),
    ] {
        let response = app
            .as_user(Method::GET, &path, TENANT_B, "owner")
            .send()
            .await
            .unwrap();
        assert_problem(response, 404).await;
    }
    let response = app
        .as_user(
            Method::POST,
            &format!("/runs/{run}/cancel"),
            TENANT_B,
            "owner",
        )
        .send()
        .await
        .unwrap();
    assert_problem(response, 404).await;
    let response = app
        .as_user(
            Method::POST,
            &format!("/projects/{project}/runs"),
            TENANT_B,
            "owner",
        )
        .json(&json!({ "question": "x" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 404).await;
    let (_, list) = {
        let response = app
            .as_user(Method::GET, "/projects", TENANT_B, "viewer")
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert!(list["items"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn viewers_can_read_but_not_change_anything() {
    let app = TestApp::with(crate::helpers::Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let run = app.create_run(&project, "vitamin D").await;
    let viewer = |m: Method, p: &str| app.as_user(m, p, TENANT_A, "viewer");
    assert_eq!(
        viewer(Method::GET, &format!("/runs/{run}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let attempts = [
        viewer(Method::POST, "/projects").json(&json!({ "name": "x" })),
        viewer(Method::PATCH, &format!("/projects/{project}")).json(&json!({ "name": "x" })),
        viewer(Method::DELETE, &format!("/projects/{project}")),
        viewer(Method::POST, &format!("/projects/{project}/runs"))
            .json(&json!({ "question": "x" })),
        viewer(Method::POST, &format!("/runs/{run}/cancel")),
        viewer(Method::POST, &format!("/runs/{run}/retry")),
    ];
    for attempt in attempts {
        assert_problem(attempt.send().await.unwrap(), 403).await;
    }
    // Without a role header the development identity is a viewer.
    let response = app
        .client
        .post(app.url("/projects"))
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403).await;
    app.stop().await;
}

#[tokio::test]
async fn without_dev_bypass_every_protected_route_is_unauthorized() {
    let app = TestApp::with(crate::helpers::Options {
        dev_bypass: false,
        workers: 0,
        ..Default::default()
    })
    .await;
    for (method, path) in [
        (Method::GET, "/projects"),
        (Method::POST, "/projects"),
        (Method::GET, "/runs/00000000-0000-0000-0000-000000000000"),
    ] {
        let response = app
            .as_user(method, path, TENANT_A, "owner")
            .send()
            .await
            .unwrap();
        assert_problem(response, 401).await;
    }
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}
