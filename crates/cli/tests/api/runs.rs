use crate::helpers::{Options, TENANT_A, TestApp, assert_problem, test_hooks};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test]
async fn a_run_goes_through_all_stages_to_a_cited_report() {
    let app = TestApp::spawn().await;
    let project = app.create_project("Vitamins").await;
    let run_id = app
        .create_run(
            &project,
            "Does vitamin D supplementation affect bone mineral density?",
        )
        .await;
    let run = app.wait_terminal(&run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["finish_reason"], "completed");
    assert_eq!(run["current_stage"], "export");
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    assert_eq!(run["artifacts"].as_array().unwrap().len(), 6);

    let events = app.events(&run_id).await;
    let starts: Vec<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "stage_start")
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    let finishes: Vec<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "stage_finish")
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    let stages = [
        "retrieve",
        "ingest",
        "outline",
        "draft",
        "validate",
        "factcheck",
        "export",
    ];
    assert_eq!(starts, stages);
    assert_eq!(finishes, stages);
    assert_eq!(events[0]["event_type"], "run.created");
    assert_eq!(events[1]["event_type"], "run.queued");
    assert!(
        events.iter().any(|e| e["event_type"] == "progress"),
        "progress events inside long stages"
    );
    let last = events.last().unwrap();
    assert_eq!(
        (last["event_type"].as_str(), last["payload"]["to"].as_str()),
        (Some("state"), Some("succeeded"))
    );

    let (status, status_body) = app.get_json(&format!("/runs/{run_id}/status")).await;
    assert_eq!(status, 200);
    assert_eq!(status_body["status"], "succeeded");
    assert_eq!(status_body["completed_at"], run["finished_at"]);
    assert!(status_body["error"].is_null());

    // Every claim cites snippets that exist in the run's evidence and quotes one verbatim.
    let (_, evidence) = app.get_json(&format!("/runs/{run_id}/evidence")).await;
    let mut snippets = std::collections::HashMap::new();
    for source in evidence["items"].as_array().unwrap() {
        for snippet in source["snippets"].as_array().unwrap() {
            snippets.insert(
                snippet["id"].as_str().unwrap().to_string(),
                snippet["text"].as_str().unwrap().to_string(),
            );
        }
    }
    assert!(!snippets.is_empty());
    let (_, claims) = app.get_json(&format!("/runs/{run_id}/claims")).await;
    let claims = claims["items"].as_array().unwrap();
    assert!(!claims.is_empty());
    for claim in claims {
        let cited = claim["snippet_ids"].as_array().unwrap();
        assert!(!cited.is_empty());
        let text = claim["text"].as_str().unwrap();
        assert!(cited.iter().any(|id| {
            snippets
                .get(id.as_str().unwrap())
                .is_some_and(|s| s.contains(text))
        }));
        assert_eq!(
            (claim["verdict"].as_str(), claim["support"].as_f64()),
            (Some("supported"), Some(1.0))
        );
    }

    let (status, output) = app.get_json(&format!("/runs/{run_id}/output")).await;
    assert_eq!(status, 200);
    let markdown = output["content"].as_str().unwrap();
    assert!(markdown.starts_with("# Does vitamin D"));
    assert!(markdown.contains("## References") && markdown.contains("[1]"));
    for claim in claims {
        assert!(markdown.contains(claim["text"].as_str().unwrap().trim()));
    }
    let texts: Vec<&str> = claims.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts.len(),
        texts.iter().collect::<HashSet<_>>().len(),
        "no sentence twice"
    );

    let (status, context) = app.get_json(&format!("/runs/{run_id}/context")).await;
    assert_eq!(status, 200);
    let bundle = &context["context_bundle"];
    assert_eq!(
        bundle["question"],
        "Does vitamin D supplementation affect bone mineral density?"
    );
    assert!(bundle["corpus_fingerprint"].as_str().unwrap().len() >= 32);
    assert_eq!(bundle["claim_map"].as_array().unwrap().len(), claims.len());
    app.stop().await;
}

#[tokio::test]
async fn artifacts_download_with_etag_ranges_and_file_names() {
    let app = TestApp::spawn().await;
    let project = app.create_project("P").await;
    let run_id = app
        .create_run(&project, "macrophages in tumour growth")
        .await;
    assert_eq!(app.wait_terminal(&run_id).await["status"], "succeeded");
    let (_, list) = app.get_json(&format!("/runs/{run_id}/artifacts")).await;
    let items = list["items"].as_array().unwrap();
    let names: HashSet<&str> = items.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        HashSet::from([
            "report.md",
            "report.html",
            "report.json",
            "references.bib",
            "references.ris",
            "context_bundle.json"
        ])
    );
    let json_artifact = items.iter().find(|a| a["name"] == "report.json").unwrap();
    let url = json_artifact["download_url"].as_str().unwrap();
    let response = app.researcher(Method::GET, url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("report.json")
    );
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert_eq!(
        etag.trim_matches('"'),
        json_artifact["sha256"].as_str().unwrap()
    );
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["question"], "macrophages in tumour growth");
    let section = &report["sections"][0];
    assert!(section["title"].is_string() && section["text"].is_string());
    assert!(
        section["claims"][0]["claim_id"].is_string()
            && section["claims"][0]["snippet_ids"].is_array()
    );
    assert_eq!(section["claims"][0]["verdict"], "supported");
    let reference = &report["references"][0];
    assert_eq!(reference["ref"], 1);
    assert!(reference["source_id"].is_string() && reference["title"].is_string());

    let size = json_artifact["size_bytes"].as_u64().unwrap();
    let partial = app
        .researcher(Method::GET, url)
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(
        partial.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-9/{size}")
    );
    assert_eq!(partial.bytes().await.unwrap().len(), 10);
    let unchanged = app
        .researcher(Method::GET, url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    let beyond = app
        .researcher(Method::GET, url)
        .header("Range", format!("bytes={}-", size + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    let html = items.iter().find(|a| a["name"] == "report.html").unwrap();
    let page = app
        .researcher(Method::GET, html["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.starts_with("<!doctype html>") && page.contains("<h2>References</h2>"));
    assert!(page.contains("<h2>Evidence</h2>") && page.contains("href=\"#quote-1\""));
    for (name, mime, start) in [
        ("references.bib", "application/x-bibtex", "% "),
        (
            "references.ris",
            "application/x-research-info-systems",
            "TY  - ",
        ),
    ] {
        let artifact = items.iter().find(|a| a["name"] == name).unwrap();
        assert_eq!(artifact["kind"], "references");
        let response = app
            .researcher(Method::GET, artifact["download_url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(mime),
            "{name}"
        );
        let text = response.text().await.unwrap();
        assert!(text.starts_with(start), "{name}: {text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_same_question_over_the_same_corpus_gives_the_same_report() {
    let app = TestApp::spawn().await;
    let project = app.create_project("P").await;
    let mut reports = Vec::new();
    for _ in 0..2 {
        let run = app
            .create_run(&project, "insulin resistance and obesity")
            .await;
        assert_eq!(app.wait_terminal(&run).await["status"], "succeeded");
        let (_, output) = app.get_json(&format!("/runs/{run}/output")).await;
        reports.push(output["content"].as_str().unwrap().to_string());
    }
    assert_eq!(reports[0], reports[1]);
    app.stop().await;
}

#[tokio::test]
async fn parallel_requests_with_one_client_request_id_create_one_run() {
    let app = TestApp::with(Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let body =
        json!({ "question": "vitamin D", "client_request_id": "req-42", "sources": ["local"] });
    let requests = (0..24).map(|_| {
        app.researcher(Method::POST, &format!("/projects/{project}/runs"))
            .json(&body)
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut created = 0;
    let mut ids = HashSet::new();
    for response in responses {
        let response = response.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            202 => created += 1,
            200 => assert_eq!(body["status"], "queued"),
            other => panic!("unexpected status {other}: {body}"),
        }
        ids.insert(body["run_id"].as_str().unwrap().to_string());
    }
    assert_eq!((created, ids.len()), (1, 1));
    let different = app
        .researcher(Method::POST, &format!("/projects/{project}/runs"))
        .json(&json!({ "question": "something else", "client_request_id": "req-42" }))
        .send()
        .await
        .unwrap();
    assert_problem(different, 409).await;
    app.stop().await;
}

#[tokio::test]
async fn a_queued_run_is_canceled_at_once_and_stays_canceled() {
    let app = TestApp::with(Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let run = app.create_run(&project, "vitamin D").await;
    let response = app
        .researcher(Method::POST, &format!("/runs/{run}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["finish_reason"].as_str()),
        (Some("canceled"), Some("canceled"))
    );
    let again: Value = app
        .researcher(Method::POST, &format!("/runs/{run}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "canceled");
    assert_problem(
        app.researcher(Method::POST, &format!("/runs/{run}/retry"))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    let (status, _) = app.get_json(&format!("/runs/{run}/output")).await;
    assert_eq!(status, 409);
    app.stop().await;
}

#[tokio::test]
async fn a_running_run_stops_at_the_next_checkpoint_when_canceled() {
    // The test hook holds `ingest` for a minute: the cancel lands inside the stage every time.
    let app = TestApp::with(Options {
        workers: 1,
        extra: test_hooks("ingest=60000"),
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let run = app.create_run(&project, "vitamin D and bone density").await;
    app.wait_event(&run, |e| {
        e["event_type"] == "stage_start" && e["stage"] == "ingest"
    })
    .await;
    let response: Value = app
        .researcher(Method::POST, &format!("/runs/{run}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["status"], "running");
    assert!(response["cancel_requested_at"].is_string());
    let asked = std::time::Instant::now();
    let end = app.wait_terminal(&run).await;
    assert_eq!(end["status"], "canceled", "{end}");
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(30),
        "stopped inside the stage, not after its delay"
    );
    let events = app.events(&run).await;
    assert_eq!(events.last().unwrap()["payload"]["to"], "canceled");
    let finished: Vec<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "stage_finish")
        .filter_map(|e| e["stage"].as_str())
        .collect();
    assert_eq!(finished, ["retrieve"], "ingest never committed");
    app.stop().await;
}

#[tokio::test]
async fn a_question_without_evidence_fails_with_no_evidence_and_can_be_retried() {
    let app = TestApp::spawn().await;
    let project = app.create_project("P").await;
    let run = app.create_run(&project, "zyxwv qqqzz frobnicate").await;
    let failed = app.wait_terminal(&run).await;
    assert_eq!(
        (failed["status"].as_str(), failed["error_code"].as_str()),
        (Some("failed"), Some("no_evidence"))
    );
    assert!(
        failed["failure_reason"]
            .as_str()
            .unwrap()
            .contains("matches")
    );
    let (_, status) = app.get_json(&format!("/runs/{run}/status")).await;
    assert_eq!(status["error"]["code"], "no_evidence");
    let output = app
        .researcher(Method::GET, &format!("/runs/{run}/output"))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(output, 409).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("no_evidence"),
        "{problem}"
    );
    let events = app.events(&run).await;
    let error = events.iter().find(|e| e["event_type"] == "error").unwrap();
    assert_eq!(error["payload"]["error_code"], "no_evidence");

    let retried: Value = app
        .researcher(Method::POST, &format!("/runs/{run}/retry"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (retried["status"].as_str(), retried["retry_count"].as_i64()),
        (Some("queued"), Some(1))
    );
    assert!(retried["error_code"].is_null() && retried["finished_at"].is_null());
    let again = app.wait_terminal(&run).await;
    assert_eq!(
        (again["status"].as_str(), again["retry_count"].as_i64()),
        (Some("failed"), Some(1))
    );
    app.stop().await;
}

#[tokio::test]
async fn runs_are_listed_newest_first_per_project() {
    let app = TestApp::with(Options {
        workers: 0,
        ..Default::default()
    })
    .await;
    let project = app.create_project("P").await;
    let first = app.create_run(&project, "first question").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = app.create_run(&project, "second question").await;
    let (status, list) = app.get_json(&format!("/projects/{project}/runs")).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    let busy = app
        .as_user(
            Method::DELETE,
            &format!("/projects/{project}"),
            TENANT_A,
            "owner",
        )
        .send()
        .await
        .unwrap();
    assert_problem(busy, 409).await;
    app.stop().await;
}
