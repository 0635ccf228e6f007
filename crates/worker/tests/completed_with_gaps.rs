//! A run that ends `completed_with_gaps`, through the real worker, research pipeline, SQLite store and
//! blob directory, over a small local corpus written by the test.
//!
//! `outline` drafts only sentences the fact check will find relevant enough, so a lexical run loses a
//! drafted claim only when it does not fit its section. The corpus is built for that: the question
//! "Does green tea reduce blood pressure?" is answered by three sentences about blood pressure and
//! one about green tea that shares no word with them. With `max_sections: 1` all four are drafted into
//! one section, and the green-tea sentence is removed as `weak` ("does not fit the section"), so
//! 3 of 4 drafted claims are supported: enough for the default `min_supported_share` (0.6), too few
//! for 1.0. The worker runs without an embedder whatever `RESEARCHOPS_EMBED_MODEL_DIR` says, so the
//! verdicts are the deterministic lexical ones.

#![expect(clippy::unwrap_used, reason = "tests")]

mod support;

use researchops_core::{
    ArtifactKind, BlobStore, Connector, Connectors, RunId, RunOptions, RunStatus,
};
use researchops_sources::{LocalConnector, LocalSearch};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use support::{Harness, config};

const QUESTION: &str = "Does green tea reduce blood pressure?";
/// On the question's topic, quoted verbatim, but sharing no word with the rest of its section.
const OUTLIER: &str = "Green tea is brewed from the dried leaves of Camellia sinensis.";

/// A BEIR JSONL corpus: two documents that answer the question, three that do not.
fn write_corpus(dir: &Path) -> std::path::PathBuf {
    let docs = [
        (
            "1",
            "Green tea and blood pressure in adults",
            format!(
                "{OUTLIER} Hypertensive volunteers drank four cups each morning for twelve weeks. \
                 Systolic blood pressure fell by five millimetres of mercury compared with placebo."
            ),
        ),
        (
            "2",
            "Blood pressure reduction with dietary changes",
            "Reducing dietary sodium lowered blood pressure in older adults with hypertension. \
             Potassium supplements reduced diastolic blood pressure modestly in the same cohort."
                .to_string(),
        ),
        (
            "3",
            "Sleep duration in shift workers",
            "Night shifts shortened sleep by an hour on average across three hospitals. \
             Workers on rotating rosters reported more daytime fatigue than day staff."
                .to_string(),
        ),
        (
            "4",
            "Soil bacteria and nitrogen fixation",
            "Rhizobia colonise legume roots and fix atmospheric nitrogen in nodules. \
             Fertiliser runoff changed the composition of soil communities near rivers."
                .to_string(),
        ),
        (
            "5",
            "Reading habits of teenagers",
            "Teenagers who read printed books before bed reported longer attention spans. \
             Libraries in rural districts lent more novels during the winter months."
                .to_string(),
        ),
    ];
    let path = dir.join("corpus.jsonl");
    let lines: Vec<String> = docs
        .iter()
        .map(|(id, title, text)| {
            serde_json::json!({ "_id": id, "title": title, "text": text }).to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

async fn artifact(h: &Harness, run: RunId, kind: ArtifactKind) -> String {
    let artifacts = h.store.list_artifacts(h.tenant, run).await.unwrap();
    let artifact = artifacts
        .iter()
        .find(|a| a.name == kind.file_name())
        .unwrap_or_else(|| panic!("{kind} was written"));
    let bytes = h.blobs.get(&artifact.sha256).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// What a finished run left: the run row, `report.json` and `report.md`.
struct Finished {
    run: researchops_core::Run,
    report: Value,
    markdown: String,
}

async fn finished(h: &Harness, run: RunId) -> Finished {
    let run = h.wait(run, RunStatus::is_terminal).await;
    assert_eq!(
        run.status,
        RunStatus::Succeeded,
        "{:?} {:?}",
        run.error_code,
        run.failure_reason
    );
    let report =
        serde_json::from_str(&artifact(h, run.id, ArtifactKind::ReportJson).await).unwrap();
    let markdown = artifact(h, run.id, ArtifactKind::ReportMd).await;
    Finished {
        run,
        report,
        markdown,
    }
}

fn section_sentences(report: &Value) -> Vec<&str> {
    report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["claims"].as_array().unwrap())
        .map(|c| c["text"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_fewer_supported_claims_than_min_supported_share_completes_with_gaps() {
    let h = Harness::new().await;
    let dir = tempfile::tempdir().unwrap();
    let search = LocalSearch::open(&write_corpus(dir.path()), &dir.path().join("index")).unwrap();
    let local: Arc<dyn Connector> = Arc::new(LocalConnector::new(Arc::new(search)));
    let (stop, task) = h.start_pipeline(Connectors::new([local]), config());
    let one_section = RunOptions {
        max_sections: 1,
        ..RunOptions::default()
    };
    let strict = h
        .ask(
            QUESTION,
            RunOptions {
                min_supported_share: 1.0,
                ..one_section.clone()
            },
            1,
        )
        .await;
    let default_share = h.ask(QUESTION, one_section, 1).await;

    let gaps = finished(&h, strict).await;
    assert_eq!(
        gaps.run.finish_reason.as_deref(),
        Some("completed_with_gaps")
    );
    assert_eq!(gaps.report["finish_reason"], "completed_with_gaps");
    let removed = gaps.report["removed_claims"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["text"], OUTLIER);
    assert_eq!(removed[0]["verdict"], "weak");
    assert_eq!(
        removed[0]["reason"],
        "does not fit the section it was drafted in"
    );
    let kept = section_sentences(&gaps.report);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(
        kept.iter().all(|s| s.contains("blood pressure")),
        "{kept:?}"
    );
    assert!(!gaps.markdown.contains("Camellia"), "{}", gaps.markdown);
    assert!(
        gaps.markdown.contains(
            "This report has gaps: only 3 of the 4 drafted sentences passed the fact check"
        ),
        "{}",
        gaps.markdown
    );
    let html = artifact(&h, strict, ArtifactKind::ReportHtml).await;
    assert!(html.contains("This report has gaps"), "{html}");

    // The same evidence and verdicts clear the default share (3 of 4 ≥ 0.6): a plain `completed`.
    let complete = finished(&h, default_share).await;
    assert_eq!(complete.run.finish_reason.as_deref(), Some("completed"));
    assert_eq!(complete.report["finish_reason"], "completed");
    let removed_again = &complete.report["removed_claims"];
    assert_eq!(removed_again.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (&removed_again[0]["text"], &removed_again[0]["reason"]),
        (&removed[0]["text"], &removed[0]["reason"])
    );
    assert_eq!(section_sentences(&complete.report), kept);
    assert!(
        !complete.markdown.contains("has gaps"),
        "{}",
        complete.markdown
    );

    stop.cancel();
    task.await.unwrap();
}
