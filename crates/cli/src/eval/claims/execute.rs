//! Executing the evaluation's runs: one run per question in a private lane, an embedded worker, each
//! run awaited to its end; what each cited, and (`--trace`) how each went.

use super::{Cited, ClaimsArgs, Ending};
use crate::app::{EmbeddedWorker, Storage};
use crate::research::LOCAL_TENANT;
use anyhow::Context;
use researchops_core::Connectors;
use researchops_core::{
    CreateRunOutcome, FailureCode, Lane, NewProject, NewRun, Run, RunId, RunOptions, RunStatus,
    Store, TenantId, Verdict,
};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How one question's run went, as `--trace` writes it.
#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct RunTrace {
    pub(super) question: String,
    /// The claim's id (absent for off-topic questions).
    pub(super) claim_id: Option<String>,
    pub(super) ending: &'static str,
    /// Why the run failed, when it did.
    pub(super) failure: Option<String>,
    /// Corpus ids of the documents `retrieve` kept, best first.
    pub(super) retrieved: Vec<String>,
    /// Corpus ids of the documents the report cites.
    pub(super) cited: Vec<String>,
    /// Corpus ids of the claim's gold documents.
    pub(super) gold: Vec<String>,
    /// The `retrieve` stage's relevance signals for every gathered document (its event payload).
    pub(super) relevance: Option<serde_json::Value>,
}

/// Creates one run per question in `lane`, executes them with an embedded worker and returns, per
/// question in order, how it ended, its run time and what it cited.
pub(super) async fn execute(
    storage: &Storage,
    connectors: Connectors,
    worker_config: researchops_worker::WorkerConfig,
    lane: Lane,
    args: &ClaimsArgs,
    questions: &[&str],
) -> anyhow::Result<Vec<(Ending, Option<f64>, Cited, RunTrace)>> {
    let store = storage.store.clone();
    let tenant: TenantId = LOCAL_TENANT
        .parse()
        .map_err(|_| anyhow::anyhow!("bad tenant constant"))?;
    store.ensure_tenant(tenant, "local").await?;
    let project = store
        .create_project(
            tenant,
            NewProject {
                name: "Evaluation".into(),
                description: Some("Runs started with `researchops eval claims`".into()),
            },
        )
        .await?
        .id;
    let mut ids = Vec::with_capacity(questions.len());
    for question in questions {
        let run = NewRun {
            project_id: project,
            question: (*question).to_string(),
            sources: vec!["local".into()],
            options: RunOptions::default(),
            client_request_id: None,
            lane: lane.clone(),
        };
        let id = match store
            .create_run(tenant, run, args.worker.max_attempts)
            .await?
        {
            CreateRunOutcome::Created(id) | CreateRunOutcome::Existing(id, _) => id,
        };
        ids.push(id);
    }
    let interrupted = CancellationToken::new();
    let on_interrupt = interrupted.clone();
    let interrupt_task = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let worker = EmbeddedWorker::start(storage, connectors, worker_config).await?;
    let mut ends = Vec::with_capacity(ids.len());
    let mut failure = None;
    for (done, id) in ids.iter().enumerate() {
        let run = match wait_terminal(store.as_ref(), tenant, *id, &interrupted).await {
            Ok(run) => run,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let ending = match run.status {
            RunStatus::Succeeded => Ending::Succeeded,
            _ if run.failure_code() == Some(FailureCode::NoEvidence) => Ending::NoEvidence,
            _ => Ending::Failed,
        };
        let seconds = match (run.started_at, run.finished_at) {
            (Some(start), Some(end)) => Some((end - start).num_milliseconds() as f64 / 1000.0),
            _ => None,
        };
        let cited = if ending == Ending::Succeeded {
            match cited(store.as_ref(), tenant, *id).await {
                Ok(cited) => cited,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        } else {
            Cited::default()
        };
        let mut trace = RunTrace {
            question: run.question.clone(),
            ending: ending.label(),
            failure: run.failure_reason.clone(),
            cited: cited.documents.iter().cloned().collect(),
            ..RunTrace::default()
        };
        if args.trace.is_some() {
            let found = async {
                let mut evidence = store.list_evidence(tenant, *id).await?;
                evidence.sort_by_key(|r| r.source.rank);
                let events = store.list_events(tenant, *id, None, 10_000).await?;
                Ok::<_, researchops_core::StoreError>((evidence, events))
            };
            match found.await {
                Ok((evidence, events)) => {
                    trace.retrieved = evidence.into_iter().map(|r| r.source.external_id).collect();
                    trace.relevance = events
                        .into_iter()
                        .find(|e| {
                            e.stage == Some(researchops_core::Stage::Retrieve)
                                && e.payload.get("key_terms").is_some()
                        })
                        .map(|e| e.payload);
                }
                Err(e) => {
                    failure = Some(e.into());
                    break;
                }
            }
        }
        ends.push((ending, seconds, cited, trace));
        if (done + 1) % 50 == 0 {
            eprintln!("eval: {}/{} runs finished", done + 1, ids.len());
        }
    }
    worker.stop().await;
    interrupt_task.abort();
    match failure {
        Some(e) => Err(e),
        None => Ok(ends),
    }
}

async fn wait_terminal(
    store: &dyn Store,
    tenant: TenantId,
    id: RunId,
    interrupted: &CancellationToken,
) -> anyhow::Result<Run> {
    loop {
        let run = store.get_run(tenant, id).await?;
        if run.status.is_terminal() {
            return Ok(run);
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = interrupted.cancelled() => anyhow::bail!("interrupted (Ctrl-C)"),
        }
    }
}

/// The documents and sentences cited by the run's `supported` claims (what its report shows).
async fn cited(store: &dyn Store, tenant: TenantId, run: RunId) -> anyhow::Result<Cited> {
    let evidence = store.list_evidence(tenant, run).await?;
    let snippets: HashMap<_, _> = evidence
        .iter()
        .flat_map(|record| {
            record
                .snippets
                .iter()
                .map(move |s| (s.id, (&record.source.external_id, s.text.trim())))
        })
        .collect();
    let mut cited = Cited::default();
    for claim in store.list_claims(tenant, run).await? {
        if claim.verdict != Verdict::Supported {
            continue;
        }
        for id in &claim.snippet_ids {
            if let Some((doc, text)) = snippets.get(id) {
                cited.documents.insert((*doc).clone());
                cited
                    .sentences
                    .insert(((*doc).clone(), (*text).to_string()));
            }
        }
    }
    Ok(cited)
}

pub(super) fn write_trace(path: &Path, traces: &[RunTrace]) -> anyhow::Result<()> {
    let mut out = String::new();
    for trace in traces {
        out.push_str(&serde_json::to_string(trace)?);
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}
