//! `researchops research "question"`: one run through the same store, queue, worker and pipeline as
//! the server, on the embedded default, with a progress bar per stage, the artifacts written to a
//! folder, and Ctrl-C cancelling the run cleanly.
//!
//! The run's job waits in a private queue lane (`research-<random>`) and the embedded worker claims
//! from that lane only, so a `serve` sharing the data directory never executes the CLI's run, and the
//! CLI never executes the server's queued runs against its own corpus.

use crate::app::{EmbeddedWorker, open_connectors, open_storage};
use crate::config::{CorpusArgs, StorageArgs, WorkerArgs};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use researchops_core::{
    ArtifactKind, CreateRunOutcome, EventType, Lane, NewProject, NewRun, PageRequest, RunEvent,
    RunId, RunOptions, RunStatus, Stage, Store, TenantId,
};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The tenant command-line runs belong to (the development tenant, so the API shows them too).
pub const LOCAL_TENANT: &str = "00000000-0000-0000-0000-000000000001";
const CLI_PROJECT: &str = "Command line";

/// `research` options.
#[derive(Args, Clone, Debug)]
pub struct ResearchArgs {
    /// The research question.
    pub question: String,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// Output folder (default: ./reports/<slug of the question>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Report formats, comma separated: md, json, html, bib (BibTeX), ris (RIS). `context_bundle.json`
    /// is always written.
    #[arg(long, default_value = "md,json,html,bib,ris")]
    pub format: String,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

/// How `research` ended; `main` maps it to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum ResearchError {
    /// Bad arguments or an unusable corpus: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The run failed or was canceled: exit 1.
    #[error("{0}")]
    RunFailed(String),
    /// Anything else: exit 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn parse_formats(spec: &str) -> Result<Vec<ArtifactKind>, ResearchError> {
    let mut names = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let name = match part.to_ascii_lowercase().as_str() {
            "md" | "markdown" => ArtifactKind::ReportMd,
            "json" => ArtifactKind::ReportJson,
            "html" => ArtifactKind::ReportHtml,
            "bib" | "bibtex" => ArtifactKind::ReferencesBib,
            "ris" => ArtifactKind::ReferencesRis,
            other => {
                return Err(ResearchError::Usage(format!(
                    "unknown format `{other}` (use md, json, html, bib, ris)"
                )));
            }
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(ResearchError::Usage(
            "--format needs at least one of md, json, html, bib, ris".into(),
        ));
    }
    Ok(names)
}

/// `what-is-the-effect-of-x` (at most 60 characters; `report` if nothing is left).
pub fn slug(question: &str) -> String {
    let mut slug = String::new();
    for c in question.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.chars().count() >= 60 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "report".into()
    } else {
        slug
    }
}

const QUESTION_MARKER: &str = ".researchops-question";

/// `./reports/<slug>/`, or `<slug>-2`, `-3`, … when that folder holds another question's report.
fn default_out_dir(question: &str) -> PathBuf {
    let base = PathBuf::from("reports");
    let slug = slug(question);
    for n in 1.. {
        let dir = if n == 1 {
            base.join(&slug)
        } else {
            base.join(format!("{slug}-{n}"))
        };
        let owner = std::fs::read_to_string(dir.join(QUESTION_MARKER)).ok();
        let empty = std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if owner.as_deref() == Some(question) || (owner.is_none() && empty) {
            return dir;
        }
    }
    unreachable!("an unbounded range always yields a folder")
}

/// Runs the command.
pub async fn run(args: ResearchArgs) -> Result<Vec<PathBuf>, ResearchError> {
    // From here on Ctrl-C never kills the process half-way: it cancels the run cleanly.
    let interrupted = CancellationToken::new();
    let on_interrupt = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let question = args.question.trim().to_string();
    if question.is_empty() {
        return Err(ResearchError::Usage("the question is empty".into()));
    }
    if question.chars().count() > 2000 {
        return Err(ResearchError::Usage(
            "the question is longer than 2000 characters".into(),
        ));
    }
    let formats = parse_formats(&args.format)?;
    if args.corpus.corpus.is_none() {
        return Err(ResearchError::Usage(
            "no corpus: pass --corpus PATH or set RESEARCHOPS_CORPUS".into(),
        ));
    }
    let mut worker_config = args
        .worker
        .to_config(1)
        .map_err(|e| ResearchError::Usage(e.to_string()))?;
    // Notice Ctrl-C quickly: the heartbeat carries cancel requests to the running stage.
    worker_config.heartbeat = worker_config.heartbeat.min(Duration::from_millis(500));
    // This process's own lane: its worker executes its run and nothing else.
    let lane = Lane::private("research");
    worker_config.lane = lane.clone();
    let storage = open_storage(&args.storage, worker_config.lease).await?;
    let connectors = open_connectors(&args.corpus, &args.storage.data_dir)
        .map_err(|e| ResearchError::Usage(format!("{e:#}")))?;
    let store = storage.store.clone();
    let tenant: TenantId = LOCAL_TENANT
        .parse()
        .map_err(|_| anyhow::anyhow!("bad tenant constant"))?;
    store
        .ensure_tenant(tenant, "local")
        .await
        .map_err(anyhow::Error::from)?;
    let project = cli_project(store.as_ref(), tenant).await?;
    if interrupted.is_cancelled() {
        return Err(ResearchError::RunFailed(
            "interrupted before the run started".into(),
        ));
    }
    let run = NewRun {
        project_id: project,
        question: question.clone(),
        sources: vec!["local".into()],
        options: RunOptions::default(),
        client_request_id: None,
        lane,
    };
    let run_id = match store
        .create_run(tenant, run, args.worker.max_attempts)
        .await
        .map_err(anyhow::Error::from)?
    {
        CreateRunOutcome::Created(id) | CreateRunOutcome::Existing(id, _) => id,
    };
    let worker = EmbeddedWorker::start(&storage, connectors, worker_config).await?;
    let status = follow(store.as_ref(), tenant, run_id, &interrupted).await;
    worker.stop().await;
    let run = store
        .get_run(tenant, run_id)
        .await
        .map_err(anyhow::Error::from)?;
    match status? {
        RunStatus::Succeeded => {}
        RunStatus::Canceled => return Err(ResearchError::RunFailed("the run was canceled".into())),
        other => {
            let code = run.error_code.unwrap_or_else(|| other.to_string());
            let reason = run.failure_reason.unwrap_or_default();
            return Err(ResearchError::RunFailed(format!(
                "the run failed ({code}): {reason}"
            )));
        }
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&question));
    write_artifacts(
        store.as_ref(),
        storage.blobs.as_ref(),
        tenant,
        run_id,
        &out,
        &formats,
        &question,
    )
    .await
}

async fn cli_project(
    store: &dyn Store,
    tenant: TenantId,
) -> anyhow::Result<researchops_core::ProjectId> {
    let mut page = PageRequest::new(Some(200), None);
    loop {
        let projects = store.list_projects(tenant, &page).await?;
        if let Some(p) = projects.items.iter().find(|p| p.name == CLI_PROJECT) {
            return Ok(p.id);
        }
        match projects.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    let project = NewProject {
        name: CLI_PROJECT.into(),
        description: Some("Runs started with `researchops research`".into()),
    };
    Ok(store.create_project(tenant, project).await?.id)
}

async fn write_artifacts(
    store: &dyn Store,
    blobs: &dyn researchops_core::BlobStore,
    tenant: TenantId,
    run: RunId,
    out: &Path,
    formats: &[ArtifactKind],
    question: &str,
) -> Result<Vec<PathBuf>, ResearchError> {
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    std::fs::write(out.join(QUESTION_MARKER), question)
        .map_err(|e| anyhow::anyhow!("cannot write to {}: {e}", out.display()))?;
    let mut written = Vec::new();
    for artifact in store
        .list_artifacts(tenant, run)
        .await
        .map_err(anyhow::Error::from)?
    {
        let wanted = ArtifactKind::from_file_name(&artifact.name)
            .is_some_and(|k| k == ArtifactKind::ContextBundle || formats.contains(&k));
        if !wanted {
            continue;
        }
        let bytes = blobs
            .get(&artifact.sha256)
            .await
            .map_err(anyhow::Error::from)?;
        let path = out.join(&artifact.name);
        std::fs::write(&path, &bytes)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Shows the run's events until it is terminal; Ctrl-C requests cancellation once.
async fn follow(
    store: &dyn Store,
    tenant: TenantId,
    run: RunId,
    interrupted: &CancellationToken,
) -> Result<RunStatus, ResearchError> {
    let mut view = ProgressView::new(std::io::stderr().is_terminal());
    let mut hints = store.events().watch(run);
    let mut after = None;
    let mut cancel_sent = false;
    loop {
        let events = store
            .list_events(tenant, run, after, 1000)
            .await
            .map_err(anyhow::Error::from)?;
        for event in &events {
            view.show(event);
            after = Some(event.id);
        }
        if events.is_empty() {
            let current = store
                .get_run(tenant, run)
                .await
                .map_err(anyhow::Error::from)?;
            let more = store
                .list_events(tenant, run, after, 1)
                .await
                .map_err(anyhow::Error::from)?;
            if current.status.is_terminal() && more.is_empty() {
                view.finish();
                return Ok(current.status);
            }
            if !more.is_empty() {
                continue;
            }
            tokio::select! {
                _ = hints.wait_beyond(after.unwrap_or(0)) => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = interrupted.cancelled(), if !cancel_sent => {
                    cancel_sent = true;
                    view.note("canceling the run (Ctrl-C)…");
                    store.cancel_run(tenant, run).await.map_err(anyhow::Error::from)?;
                }
            }
        }
    }
}

/// Bars on a terminal, plain lines otherwise.
struct ProgressView {
    bars: Option<MultiProgress>,
    stages: HashMap<Stage, ProgressBar>,
}

impl ProgressView {
    fn new(tty: bool) -> Self {
        Self {
            bars: tty.then(MultiProgress::new),
            stages: HashMap::new(),
        }
    }

    fn note(&self, line: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    fn bar(&mut self, stage: Stage) -> Option<&ProgressBar> {
        let bars = self.bars.as_ref()?;
        Some(self.stages.entry(stage).or_insert_with(|| {
            let bar = bars.add(ProgressBar::new(0));
            let style =
                ProgressStyle::with_template("{spinner} {prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(stage.as_str());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    fn show(&mut self, event: &RunEvent) {
        let stage = event.stage;
        match (event.event_type, stage) {
            (EventType::StageStart, Some(stage)) => {
                if let Some(bar) = self.bar(stage) {
                    bar.set_message("running");
                } else {
                    eprintln!("{stage}: started");
                }
            }
            (EventType::Progress, Some(stage)) => {
                let done = event
                    .payload
                    .get("done")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                let total = event
                    .payload
                    .get("total")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                if let Some(bar) = self.bar(stage) {
                    bar.set_length(total);
                    bar.set_position(done);
                } else {
                    eprintln!("{stage}: {done}/{total} {}", event.message);
                }
            }
            (EventType::StageFinish, Some(stage)) => {
                if let Some(bar) = self.bar(stage) {
                    let len = bar.length().unwrap_or(0).max(1);
                    bar.set_length(len);
                    bar.set_position(len);
                    bar.finish_with_message(event.message.clone());
                } else {
                    eprintln!("{stage}: {}", event.message);
                }
            }
            (EventType::Error, _) | (EventType::Log, _)
                if event.level != researchops_core::EventLevel::Info =>
            {
                self.note(&format!("{}: {}", event.level.as_str(), event.message));
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        for bar in self.stages.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_lowercase_and_dashed() {
        assert_eq!(
            slug("What is the effect of Vitamin D on bone?"),
            "what-is-the-effect-of-vitamin-d-on-bone"
        );
        assert_eq!(slug("???"), "report");
        assert!(slug(&"long ".repeat(50)).chars().count() <= 60);
    }

    #[test]
    fn formats_are_parsed_and_unknown_ones_rejected() {
        assert_eq!(
            parse_formats("md,json").unwrap_or_default(),
            vec![ArtifactKind::ReportMd, ArtifactKind::ReportJson]
        );
        assert_eq!(
            parse_formats("bib, RIS,bibtex").unwrap_or_default(),
            vec![ArtifactKind::ReferencesBib, ArtifactKind::ReferencesRis]
        );
        assert!(matches!(parse_formats("pdf"), Err(ResearchError::Usage(_))));
        assert!(matches!(parse_formats(" , "), Err(ResearchError::Usage(_))));
    }
}
