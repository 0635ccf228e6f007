//! `researchops eval claims`: asks SciFact-style claims as research questions through the same
//! store, queue, worker and pipeline as `researchops research`, and scores the reports against the
//! claims' gold evidence; off-topic questions measure abstention.
//!
//! Everything runs in a temporary data directory (SQLite, blobs, the corpus index built once), with
//! the runs' jobs in a private queue lane that the embedded worker alone claims. This module only
//! reads what the runs produced (claims and evidence through the `Store`); it never changes how a
//! run is executed.
//!
//! Figures, over the claims that have gold evidence (the keys of `evidence`):
//! - citation recall: share of claims whose report cites ≥ 1 gold document;
//! - rationale recall: share of claims whose report cites ≥ 1 gold rationale sentence;
//! - gold precision: gold documents cited ÷ documents cited, pooled over the succeeded runs;
//! - mean cited documents per report (succeeded runs).
//!
//! "Cited" means cited by a claim the factcheck kept (`supported`), i.e. what the report shows. A run
//! that ended `no_evidence` or failed cites nothing. Claims without gold evidence count only in the
//! run tallies. Off-topic questions (`--offtopic`) are scored by abstention: the share that ends
//! `no_evidence`.

use crate::app::open_storage;
use crate::config::{StorageArgs, WorkerArgs};
use anyhow::Context;
use clap::Args;
use researchops_core::{Connector, Connectors, Lane};
use researchops_sources::{CorpusDocument, LocalConnector, LocalSearch};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// `eval claims` options.
#[derive(Args, Clone, Debug)]
pub struct ClaimsArgs {
    /// The corpus: BEIR JSONL (`_id`, `title`, `text`, `sentences`), as SciFact's corpus.jsonl.
    #[arg(long)]
    pub corpus: PathBuf,
    /// The claims, SciFact JSONL: `id`, `claim`, `evidence` ({doc id: [{"sentences": [index],
    /// "label": …}]}); sentence indexes point into the corpus document's `sentences`.
    #[arg(long)]
    pub claims: PathBuf,
    /// Ask only the first N claims that have gold evidence (file order); claims without gold
    /// evidence are then left out.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Off-topic questions, one per line (blank lines and lines starting with `#` are ignored):
    /// adds abstention, the share of them that end `no_evidence`.
    #[arg(long)]
    pub offtopic: Option<PathBuf>,
    /// Runs the embedded worker executes at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Print the figures as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write one JSON line per question to FILE: how its run ended (with the failure reason), the
    /// documents retrieved (best first), the documents cited and the gold documents — for finding
    /// where a gold document was lost.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

/// A claim of the claims file.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalClaim {
    /// The claim's id, as text.
    pub id: String,
    /// The claim, asked as the research question.
    pub text: String,
    /// Gold rationales: document id → sentence indexes (empty: no gold evidence).
    pub gold: BTreeMap<String, BTreeSet<usize>>,
}

#[derive(Deserialize)]
struct ClaimRecord {
    id: serde_json::Value,
    claim: String,
    #[serde(default)]
    evidence: BTreeMap<String, Vec<RationaleRecord>>,
}

#[derive(Deserialize)]
struct RationaleRecord {
    sentences: Vec<usize>,
}

/// Reads a SciFact claims file; a bad line is an error naming `file:line`.
pub fn load_claims(path: &Path) -> anyhow::Result<Vec<EvalClaim>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the claims file {}", path.display()))?;
    let mut claims = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), number + 1);
        let record: ClaimRecord = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}: not a claim record: {e}", at()))?;
        let id = match record.id {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) if !s.trim().is_empty() => s,
            _ => anyhow::bail!("{}: `id` must be a number or a non-empty string", at()),
        };
        let text = record.claim.trim().to_string();
        anyhow::ensure!(!text.is_empty(), "{}: `claim` is empty", at());
        anyhow::ensure!(
            text.chars().count() <= 2000,
            "{}: `claim` is longer than 2000 characters",
            at()
        );
        let gold = record
            .evidence
            .into_iter()
            .map(|(doc, rationales)| {
                let sentences = rationales.into_iter().flat_map(|r| r.sentences).collect();
                (doc, sentences)
            })
            .collect();
        claims.push(EvalClaim { id, text, gold });
    }
    anyhow::ensure!(!claims.is_empty(), "{} holds no claims", path.display());
    Ok(claims)
}

/// Reads an off-topic file: one question per line; blank lines and `#` comments are skipped.
pub fn load_offtopic(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the off-topic file {}", path.display()))?;
    let mut questions = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let question = line.trim();
        if question.is_empty() || question.starts_with('#') {
            continue;
        }
        anyhow::ensure!(
            question.chars().count() <= 2000,
            "{}:{}: the question is longer than 2000 characters",
            path.display(),
            number + 1
        );
        questions.push(question.to_string());
    }
    anyhow::ensure!(
        !questions.is_empty(),
        "{} holds no questions",
        path.display()
    );
    Ok(questions)
}

/// The claims to ask: with `limit`, the first `limit` claims that have gold evidence; otherwise all.
pub fn select_claims(claims: Vec<EvalClaim>, limit: Option<usize>) -> Vec<EvalClaim> {
    match limit {
        Some(n) => claims
            .into_iter()
            .filter(|c| !c.gold.is_empty())
            .take(n)
            .collect(),
        None => claims,
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A report was written.
    Succeeded,
    /// The run failed with `no_evidence` (it abstained).
    NoEvidence,
    /// Any other failure, or a cancel.
    Failed,
}

/// What a finished run cited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cited {
    /// Corpus ids of the cited documents.
    pub documents: BTreeSet<String>,
    /// Cited sentences: (corpus id, sentence text, trimmed).
    pub sentences: BTreeSet<(String, String)>,
}

/// Run tallies.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct RunCounts {
    /// Runs that wrote a report.
    pub succeeded: usize,
    /// Runs that ended `no_evidence`.
    pub no_evidence: usize,
    /// Runs that failed otherwise (or were canceled).
    pub failed: usize,
}

impl Ending {
    fn label(self) -> &'static str {
        match self {
            Ending::Succeeded => "succeeded",
            Ending::NoEvidence => "no_evidence",
            Ending::Failed => "failed",
        }
    }
}

impl RunCounts {
    fn add(&mut self, ending: Ending) {
        match ending {
            Ending::Succeeded => self.succeeded += 1,
            Ending::NoEvidence => self.no_evidence += 1,
            Ending::Failed => self.failed += 1,
        }
    }
}

/// Abstention on off-topic questions.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Abstention {
    /// Questions asked.
    pub questions: usize,
    /// How their runs ended.
    pub runs: RunCounts,
    /// Share that ended `no_evidence`.
    pub abstention: Option<f64>,
}

/// The figures `eval claims` prints (`--json`: this object).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClaimsFigures {
    /// Claims asked.
    pub claims_asked: usize,
    /// Of those, claims with gold evidence (the denominators of the recalls).
    pub claims_with_gold: usize,
    /// How the claims' runs ended.
    pub runs: RunCounts,
    /// Share of gold claims whose report cites ≥ 1 gold document.
    pub citation_recall: Option<f64>,
    /// Share of gold claims whose report cites ≥ 1 gold rationale sentence.
    pub rationale_recall: Option<f64>,
    /// Gold documents cited ÷ documents cited, pooled over the gold claims' succeeded runs.
    pub gold_precision: Option<f64>,
    /// Documents cited per report (gold claims' succeeded runs).
    pub mean_cited_documents: Option<f64>,
    /// Off-topic questions, when asked.
    pub offtopic: Option<Abstention>,
    /// Median run time, start to end (seconds), over every run.
    pub run_seconds_median: Option<f64>,
    /// 90th percentile of the run time (seconds).
    pub run_seconds_p90: Option<f64>,
    /// Runs executed at once.
    pub concurrency: usize,
    /// Time to load the corpus and build its index (seconds).
    pub index_seconds: f64,
    /// Time from the first run created to the last one finished (seconds).
    pub wall_seconds: f64,
}

/// One gold claim's result.
#[derive(Clone, Debug, PartialEq)]
pub struct GoldScore {
    /// ≥ 1 gold document cited.
    pub document_hit: bool,
    /// ≥ 1 gold rationale sentence cited.
    pub rationale_hit: bool,
    /// Cited documents that are gold.
    pub gold_cited: usize,
    /// Documents cited.
    pub cited: usize,
}

/// Scores what a run cited against a claim's gold evidence; `gold_sentences` maps each gold
/// document to the (trimmed) text of its rationale sentences.
pub fn score(gold_sentences: &BTreeMap<String, BTreeSet<String>>, cited: &Cited) -> GoldScore {
    let gold_cited = cited
        .documents
        .iter()
        .filter(|doc| gold_sentences.contains_key(*doc))
        .count();
    let rationale_hit = cited.sentences.iter().any(|(doc, text)| {
        gold_sentences
            .get(doc)
            .is_some_and(|sentences| sentences.contains(text))
    });
    GoldScore {
        document_hit: gold_cited > 0,
        rationale_hit,
        gold_cited,
        cited: cited.documents.len(),
    }
}

/// The text of a document's `index`-th sentence: its own split when it has one, else ours.
fn sentence_text(doc: &CorpusDocument, index: usize) -> Option<String> {
    match &doc.sentences {
        Some(sentences) => sentences.get(index).map(|s| s.trim().to_string()),
        None => doc
            .sentence_ranges()
            .get(index)
            .and_then(|range| doc.text.get(range.clone()))
            .map(|s| s.trim().to_string()),
    }
}

/// A claim's gold documents with their rationale sentences' text; gold documents missing from the
/// corpus (or sentence indexes past a document's end) are counted in `missing`.
fn gold_sentences(
    claim: &EvalClaim,
    search: &LocalSearch,
    missing: &mut usize,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut gold = BTreeMap::new();
    for (doc_id, indexes) in &claim.gold {
        let mut sentences = BTreeSet::new();
        match search.corpus().get(doc_id) {
            Some(doc) => {
                for &index in indexes {
                    match sentence_text(doc, index) {
                        Some(text) => {
                            sentences.insert(text);
                        }
                        None => *missing += 1,
                    }
                }
            }
            None => *missing += 1,
        }
        gold.insert(doc_id.clone(), sentences);
    }
    gold
}

fn ratio(numerator: usize, denominator: usize) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index.min(sorted.len() - 1)).copied()
}

/// Runs the evaluation and prints its figures.
pub async fn run(args: ClaimsArgs) -> anyhow::Result<()> {
    let json = args.json;
    let figures = evaluate(args).await?;
    if json {
        println!("{}", serde_json::to_string(&figures)?);
    } else {
        print_figures(&figures);
    }
    Ok(())
}

/// Asks the claims (and off-topic questions) and computes the figures.
pub async fn evaluate(args: ClaimsArgs) -> anyhow::Result<ClaimsFigures> {
    let claims = select_claims(load_claims(&args.claims)?, args.limit);
    anyhow::ensure!(!claims.is_empty(), "no claim to ask (check --limit)");
    let offtopic = match &args.offtopic {
        Some(path) => load_offtopic(path)?,
        None => Vec::new(),
    };
    let concurrency = usize::from(args.concurrency);
    let mut worker_config = args.worker.to_config(concurrency)?;
    let lane = Lane::private("eval-claims");
    worker_config.lane = lane.clone();

    let data = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let storage_args = StorageArgs {
        data_dir: data.path().to_path_buf(),
        database_url: None,
        sqlite_sync: "normal".into(),
        blob_url: None,
        pg_pool_size: 1,
    };
    let storage = open_storage(&storage_args, worker_config.lease).await?;
    let index_started = Instant::now();
    let corpus = args.corpus.clone();
    let index_root = data.path().join("indexes");
    let search = tokio::task::spawn_blocking(move || LocalSearch::open(&corpus, &index_root))
        .await
        .context("the corpus task failed")?
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.corpus.display()))?;
    let search = Arc::new(search);
    let index_seconds = index_started.elapsed().as_secs_f64();
    let local: Arc<dyn Connector> = Arc::new(LocalConnector::new(search.clone()));
    let connectors = Connectors::new([local]);

    let mut missing = 0;
    let gold: Vec<_> = claims
        .iter()
        .map(|claim| gold_sentences(claim, &search, &mut missing))
        .collect();
    if missing > 0 {
        eprintln!(
            "warning: {missing} gold documents or rationale sentences are not in the corpus; they count as missed"
        );
    }

    let questions: Vec<&str> = claims
        .iter()
        .map(|c| c.text.as_str())
        .chain(offtopic.iter().map(String::as_str))
        .collect();
    let started = Instant::now();
    let ends =
        execute::execute(&storage, connectors, worker_config, lane, &args, &questions).await?;
    let wall_seconds = started.elapsed().as_secs_f64();

    let mut runs = RunCounts::default();
    let mut offtopic_runs = RunCounts::default();
    let (mut document_hits, mut rationale_hits, mut gold_cited, mut cited, mut reports) =
        (0, 0, 0, 0, 0);
    let mut seconds = Vec::new();
    let mut traces = Vec::new();
    for (index, (ending, run_seconds, cited_by_run, trace)) in ends.into_iter().enumerate() {
        let ending = &ending;
        let cited_by_run = &cited_by_run;
        seconds.extend(run_seconds);
        if args.trace.is_some() {
            let mut trace: execute::RunTrace = trace;
            if let (Some(claim), Some(claim_gold)) = (claims.get(index), gold.get(index)) {
                trace.claim_id = Some(claim.id.clone());
                trace.gold = claim_gold.keys().cloned().collect();
            }
            traces.push(trace);
        }
        let Some(claim_gold) = gold.get(index) else {
            offtopic_runs.add(*ending);
            continue;
        };
        runs.add(*ending);
        if claim_gold.is_empty() {
            continue;
        }
        let result = score(claim_gold, cited_by_run);
        document_hits += usize::from(result.document_hit);
        rationale_hits += usize::from(result.rationale_hit);
        if *ending == Ending::Succeeded {
            reports += 1;
            gold_cited += result.gold_cited;
            cited += result.cited;
        }
    }
    if let Some(path) = &args.trace {
        execute::write_trace(path, &traces)?;
    }
    seconds.sort_by(f64::total_cmp);
    let claims_with_gold = gold.iter().filter(|g| !g.is_empty()).count();
    Ok(ClaimsFigures {
        claims_asked: claims.len(),
        claims_with_gold,
        runs,
        citation_recall: ratio(document_hits, claims_with_gold),
        rationale_recall: ratio(rationale_hits, claims_with_gold),
        gold_precision: ratio(gold_cited, cited),
        mean_cited_documents: (reports > 0).then(|| cited as f64 / reports as f64),
        offtopic: (!offtopic.is_empty()).then(|| Abstention {
            questions: offtopic.len(),
            runs: offtopic_runs,
            abstention: ratio(offtopic_runs.no_evidence, offtopic.len()),
        }),
        run_seconds_median: percentile(&seconds, 0.5),
        run_seconds_p90: percentile(&seconds, 0.9),
        concurrency,
        index_seconds,
        wall_seconds,
    })
}

fn print_figures(f: &ClaimsFigures) {
    let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"));
    println!(
        "claims: {} asked, {} with gold evidence",
        f.claims_asked, f.claims_with_gold
    );
    println!(
        "runs: {} succeeded, {} no_evidence, {} failed",
        f.runs.succeeded, f.runs.no_evidence, f.runs.failed
    );
    println!("citation recall:  {}", show(f.citation_recall));
    println!("rationale recall: {}", show(f.rationale_recall));
    println!("gold precision:   {}", show(f.gold_precision));
    println!(
        "cited documents:  {} per report",
        f.mean_cited_documents
            .map_or_else(|| "n/a".to_string(), |v| format!("{v:.2}"))
    );
    if let Some(o) = &f.offtopic {
        println!(
            "abstention:       {} ({} of {} off-topic questions ended no_evidence; {} reports, {} failed)",
            show(o.abstention),
            o.runs.no_evidence,
            o.questions,
            o.runs.succeeded,
            o.runs.failed
        );
    }
    let ms = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{:.0} ms", v * 1e3));
    println!(
        "time per run:     median {}, p90 {} (concurrency {}; wall {:.1} s; corpus index {:.2} s)",
        ms(f.run_seconds_median),
        ms(f.run_seconds_p90),
        f.concurrency,
        f.wall_seconds,
        f.index_seconds
    );
}

mod execute;
#[cfg(test)]
mod tests;
