//! `researchops eval beir`: retrieval quality (nDCG@10, Recall@100, MRR@10) and speed
//! (queries/s, index time) of a retrieval mode on a BEIR-format data set, plus a TREC run file.
//!
//! Inputs: the corpus (`corpus.jsonl`, loaded exactly as the `local` source loads it), queries
//! (JSONL, `_id` and `text`) and qrels (TSV `query-id corpus-id score` with a header line; the
//! four-column TREC form `qid 0 docid rel` is accepted too). Only queries that have qrels are
//! evaluated. Any malformed input stops the command with the file and line at fault.
//!
//! A mode is a [`Ranker`]: a function from a query to ranked `(doc_id, score)` hits. Adding a
//! mode means building one (like [`bm25_ranker`]) and choosing it in [`run`]; the evaluation
//! loop does not change. Several `--k1`/`--b`/`--title-boost` values (bm25) or `--alpha` values
//! (hybrid, convex fusion) evaluate a grid over one index build and print a line per combination.
//!
//! `dense` and `hybrid` need the sentence model (`RESEARCHOPS_EMBED_MODEL_DIR`); the corpus is
//! embedded once per run (or read back from `--vectors FILE`) and every query is embedded once, its
//! time reported apart from search time, so the per-query latency of each mode is visible.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use researchops_search::embed::{Embedder, MODEL_DIR_ENV};
use researchops_search::{
    Bm25Params, CorpusIndex, DenseIndex, Hit, IndexDoc, RRF_K, convex_fusion, metrics,
    reciprocal_rank_fusion,
};
use researchops_sources::LocalCorpus;

use super::vectors::corpus_vectors;

/// Hits retrieved per query: the deepest cut any metric looks at.
const RUN_DEPTH: usize = 100;

/// BM25's weight in convex fusion unless `--alpha` says otherwise.
const DEFAULT_ALPHA: f32 = 0.6;

/// Retrieval modes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Lexical BM25F over title and text.
    Bm25,
    /// Dense embeddings (cosine).
    Dense,
    /// Fusion of BM25 and dense.
    Hybrid,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// How `hybrid` fuses the lexical and dense rankings.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fusion {
    /// Reciprocal rank fusion (k = 60): ranks only.
    Rrf,
    /// `alpha · BM25 + (1 − alpha) · cosine`, each min-max normalised over its top 100.
    Convex,
}

/// `eval beir`.
#[derive(Args, Clone, Debug)]
pub struct BeirArgs {
    /// BEIR corpus (`corpus.jsonl`: `_id`, `title`, `text` per line).
    #[arg(long)]
    pub corpus: PathBuf,
    /// Queries (JSONL: `_id`, `text` per line).
    #[arg(long)]
    pub queries: PathBuf,
    /// Relevance judgements (TSV `query-id corpus-id score`, header line first).
    #[arg(long)]
    pub qrels: PathBuf,
    /// Retrieval mode.
    #[arg(long, value_enum, default_value_t = Mode::Bm25)]
    pub mode: Mode,
    /// Write the ranking as a TREC run file (`qid Q0 docid rank score tag`, top 100 per query).
    #[arg(long)]
    pub run_out: Option<PathBuf>,
    /// How `hybrid` fuses (default convex, which measured better than reciprocal rank on SciFact
    /// train: nDCG@10 0.738 at alpha 0.6 vs 0.720).
    #[arg(long, value_enum, default_value_t = Fusion::Convex)]
    pub fusion: Fusion,
    /// Weight of BM25 in convex fusion, 0..=1 (default 0.6, tuned on SciFact train over 0.2..0.8;
    /// a list makes a grid).
    #[arg(long, value_delimiter = ',')]
    pub alpha: Vec<f32>,
    /// Keep the corpus's vectors in FILE (dense and hybrid): read back when it holds this model's
    /// vectors of this corpus, written otherwise.
    #[arg(long, value_name = "FILE")]
    pub vectors: Option<PathBuf>,
    /// Tag in the run file's last column (default `researchops-<mode>`).
    #[arg(long)]
    pub tag: Option<String>,
    /// BM25 term-frequency saturation (default: the tuned value). Several values
    /// (`--k1 0.9,1.2`) evaluate every combination with `--b` and `--title-boost`: a grid.
    #[arg(long, value_delimiter = ',')]
    pub k1: Vec<f32>,
    /// BM25 length normalisation, 0..=1 (default: the tuned value; a list makes a grid).
    #[arg(long, value_delimiter = ',')]
    pub b: Vec<f32>,
    /// Weight of title matches relative to body matches (default: the tuned value; a list
    /// makes a grid).
    #[arg(long, value_delimiter = ',')]
    pub title_boost: Vec<f32>,
}

/// A retrieval mode under evaluation: the best [`RUN_DEPTH`] hits for a query (its text and, for
/// the modes that use one, its vector), best first.
type Ranker<'a> = Box<dyn Fn(&str, &[f32]) -> anyhow::Result<Vec<Hit>> + 'a>;

/// One evaluated setting of the mode.
#[derive(Clone, Copy, Debug)]
enum Setting {
    Bm25(Bm25Params),
    Dense,
    Rrf,
    Convex(f32),
}

impl Setting {
    fn describe(self) -> String {
        match self {
            Setting::Bm25(p) => format!(
                "mode bm25 (k1 {}, b {}, title boost {})",
                p.k1, p.b, p.title_boost
            ),
            Setting::Dense => "mode dense (cosine)".into(),
            Setting::Rrf => format!("mode hybrid (reciprocal rank fusion, k {RRF_K})"),
            Setting::Convex(alpha) => format!("mode hybrid (convex fusion, alpha {alpha})"),
        }
    }
}

/// Loads the inputs, evaluates the mode (every parameter combination, for a grid) and prints
/// the figures.
pub fn run(args: &BeirArgs) -> anyhow::Result<()> {
    let settings = settings(args)?;
    let model = match args.mode {
        Mode::Bm25 => None,
        Mode::Dense | Mode::Hybrid => Some(
            Embedder::from_env()?
                .with_context(|| format!("--mode {} needs the sentence model: set {MODEL_DIR_ENV} (see scripts/fetch-model.sh)", args.mode.name()))?,
        ),
    };
    let corpus = LocalCorpus::load(&args.corpus)?;
    let queries = load_queries(&args.queries)?;
    let qrels = load_qrels(&args.qrels)?;
    let judged: Vec<&Query> = queries
        .iter()
        .filter(|q| qrels.contains_key(&q.id))
        .collect();
    if judged.is_empty() {
        bail!(
            "no query in {} has judgements in {}",
            args.queries.display(),
            args.qrels.display()
        );
    }
    let unmatched = qrels
        .keys()
        .filter(|id| !queries.iter().any(|q| &q.id == *id))
        .count();

    let index_dir = tempfile::tempdir().context("cannot create a temporary index directory")?;
    let started = Instant::now();
    let mut index = CorpusIndex::open_or_build(
        index_dir.path(),
        corpus.fingerprint(),
        corpus.documents().iter().map(|doc| IndexDoc {
            id: &doc.id,
            title: &doc.title,
            text: &doc.text,
        }),
    )?;
    let index_time = started.elapsed();
    let mut dense_lines = Vec::new();
    let mut embed_ms_per_query = None;
    let (dense, query_vectors) = match &model {
        None => (DenseIndex::default(), vec![Vec::new(); judged.len()]),
        Some(model) => {
            let vectors = corpus_vectors(model, &corpus, args.vectors.as_deref())?;
            dense_lines.push(if vectors.from_file {
                format!(
                    "vectors     {} documents read back from the vectors file",
                    vectors.index.len()
                )
            } else {
                format!(
                    "embedding   {} documents in {:.1} s ({:.1} documents/s; model {})",
                    vectors.index.len(),
                    vectors.embed_time.as_secs_f64(),
                    vectors.index.len() as f64 / vectors.embed_time.as_secs_f64().max(1e-9),
                    model.model_id()
                )
            });
            let started = Instant::now();
            let mut query_vectors = Vec::with_capacity(judged.len());
            for query in &judged {
                query_vectors.extend(model.embed(&[query.text.as_str()])?);
            }
            let per_query = started.elapsed().as_secs_f64() * 1e3 / judged.len() as f64;
            embed_ms_per_query = Some(per_query);
            dense_lines.push(format!(
                "query embed {per_query:.2} ms per query (mean, one query at a time)"
            ));
            (vectors.index, query_vectors)
        }
    };

    let mut best: Option<(Setting, Evaluation)> = None;
    for setting in settings.iter().copied() {
        if let Setting::Bm25(params) = setting {
            index.set_params(params);
        }
        let ranker = ranker(setting, &index, &dense);
        let evaluation = evaluate(&judged, &query_vectors, &qrels, &ranker)?;
        if settings.len() > 1 {
            println!(
                "grid {:<55} nDCG@10 {:.4}  Recall@100 {:.4}  MRR@10 {:.4}",
                setting.describe(),
                evaluation.ndcg10,
                evaluation.recall100,
                evaluation.mrr10
            );
        }
        if best
            .as_ref()
            .is_none_or(|(_, kept)| evaluation.ndcg10 > kept.ndcg10)
        {
            best = Some((setting, evaluation));
        }
    }
    let Some((setting, evaluation)) = best else {
        bail!("no parameter combination to evaluate");
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "eval beir: {}{}",
        setting.describe(),
        if settings.len() > 1 {
            ", best nDCG@10 of the grid"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "corpus      {} documents, index time {:.3} s",
        corpus.len(),
        index_time.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "queries     {} with qrels ({} in the queries file; {unmatched} judged queries missing from it)",
        judged.len(),
        queries.len()
    );
    for line in &dense_lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "nDCG@10     {:.4}", evaluation.ndcg10);
    let _ = writeln!(out, "Recall@100  {:.4}", evaluation.recall100);
    let _ = writeln!(out, "MRR@10      {:.4}", evaluation.mrr10);
    let n = judged.len() as f64;
    let _ = writeln!(
        out,
        "queries/s   {:.0} (single thread, search only; {:.1} µs per query)",
        n / evaluation.search_time.as_secs_f64().max(1e-9),
        evaluation.search_time.as_secs_f64() * 1e6 / n
    );
    if let Some(embed_ms) = embed_ms_per_query {
        let _ = writeln!(
            out,
            "latency     {:.2} ms per query (embedding the query + search{})",
            embed_ms + evaluation.search_time.as_secs_f64() * 1e3 / n,
            if setting_is_hybrid(setting) {
                " + fusion"
            } else {
                ""
            }
        );
    }
    if let Some(path) = &args.run_out {
        let tag = args
            .tag
            .clone()
            .unwrap_or_else(|| format!("researchops-{}", args.mode.name()));
        write_run(path, &judged, &evaluation.rankings, &tag)?;
        let _ = writeln!(out, "run file    {}", path.display());
    }
    print!("{out}");
    Ok(())
}

/// The settings to evaluate: the BM25 grid, dense, or hybrid with its fusion (and `--alpha` grid).
fn settings(args: &BeirArgs) -> anyhow::Result<Vec<Setting>> {
    let bm25_grid = !(args.k1.is_empty() && args.b.is_empty() && args.title_boost.is_empty());
    if args.mode != Mode::Bm25 && bm25_grid {
        bail!("--k1, --b and --title-boost apply to --mode bm25 only");
    }
    let convex = args.mode == Mode::Hybrid && args.fusion == Fusion::Convex;
    if !args.alpha.is_empty() && !convex {
        bail!("--alpha applies to --mode hybrid --fusion convex only");
    }
    if args.vectors.is_some() && args.mode == Mode::Bm25 {
        bail!("--vectors applies to --mode dense and hybrid only");
    }
    Ok(match (args.mode, args.fusion) {
        (Mode::Bm25, _) => params_grid(args)?.into_iter().map(Setting::Bm25).collect(),
        (Mode::Dense, _) => vec![Setting::Dense],
        (Mode::Hybrid, Fusion::Rrf) => vec![Setting::Rrf],
        (Mode::Hybrid, Fusion::Convex) => {
            let alphas = if args.alpha.is_empty() {
                vec![DEFAULT_ALPHA]
            } else {
                args.alpha.clone()
            };
            if alphas.iter().any(|a| !(0.0..=1.0).contains(a)) {
                bail!("--alpha must be within 0..=1");
            }
            alphas.into_iter().map(Setting::Convex).collect()
        }
    })
}

/// Every combination of the given `--k1`, `--b` and `--title-boost` values (defaults for the
/// ones not given), checked for range.
fn params_grid(args: &BeirArgs) -> anyhow::Result<Vec<Bm25Params>> {
    let defaults = Bm25Params::default();
    let or_default = |values: &[f32], default: f32| {
        if values.is_empty() {
            vec![default]
        } else {
            values.to_vec()
        }
    };
    let mut grid = Vec::new();
    for k1 in or_default(&args.k1, defaults.k1) {
        for b in or_default(&args.b, defaults.b) {
            for title_boost in or_default(&args.title_boost, defaults.title_boost) {
                if !(k1 >= 0.0 && (0.0..=1.0).contains(&b) && title_boost >= 0.0) {
                    bail!("--k1 and --title-boost must be ≥ 0 and --b within 0..=1");
                }
                grid.push(Bm25Params { k1, b, title_boost });
            }
        }
    }
    Ok(grid)
}

fn setting_is_hybrid(setting: Setting) -> bool {
    matches!(setting, Setting::Rrf | Setting::Convex(_))
}

/// The ranker of one setting.
fn ranker<'a>(setting: Setting, index: &'a CorpusIndex, dense: &'a DenseIndex) -> Ranker<'a> {
    match setting {
        Setting::Bm25(_) => bm25_ranker(index),
        Setting::Dense => Box::new(move |_, vector| Ok(dense.search(vector, RUN_DEPTH)?)),
        Setting::Rrf => Box::new(move |text, vector| {
            let lexical = index.search(text, RUN_DEPTH)?;
            let semantic = dense.search(vector, RUN_DEPTH)?;
            Ok(reciprocal_rank_fusion(
                &[&lexical, &semantic],
                RRF_K,
                RUN_DEPTH,
            ))
        }),
        Setting::Convex(alpha) => Box::new(move |text, vector| {
            let lexical = index.search(text, RUN_DEPTH)?;
            let semantic = dense.search(vector, RUN_DEPTH)?;
            Ok(convex_fusion(&lexical, &semantic, alpha, RUN_DEPTH))
        }),
    }
}

/// The BM25 mode: the index's own ranking.
fn bm25_ranker(index: &CorpusIndex) -> Ranker<'_> {
    Box::new(move |query: &str, _| Ok(index.search(query, RUN_DEPTH)?))
}

/// One query.
#[derive(Debug)]
struct Query {
    id: String,
    text: String,
}

/// Mean metrics over the judged queries, their search time and rankings.
struct Evaluation {
    ndcg10: f64,
    recall100: f64,
    mrr10: f64,
    search_time: Duration,
    rankings: Vec<Vec<Hit>>,
}

fn evaluate(
    queries: &[&Query],
    vectors: &[Vec<f32>],
    qrels: &HashMap<String, HashMap<String, u32>>,
    ranker: &Ranker<'_>,
) -> anyhow::Result<Evaluation> {
    let mut rankings = Vec::with_capacity(queries.len());
    let started = Instant::now();
    for (query, vector) in queries.iter().zip(vectors) {
        rankings.push(ranker(&query.text, vector)?);
    }
    let search_time = started.elapsed();
    let mut evaluation = Evaluation {
        ndcg10: 0.0,
        recall100: 0.0,
        mrr10: 0.0,
        search_time,
        rankings: Vec::new(),
    };
    for (query, hits) in queries.iter().zip(&rankings) {
        let ranked: Vec<String> = hits.iter().map(|hit| hit.doc_id.clone()).collect();
        let Some(relevant) = qrels.get(&query.id) else {
            continue;
        };
        evaluation.ndcg10 += metrics::ndcg_at_k(&ranked, relevant, 10);
        evaluation.recall100 += metrics::recall_at_k(&ranked, relevant, 100);
        evaluation.mrr10 += metrics::mrr_at_k(&ranked, relevant, 10);
    }
    let n = queries.len().max(1) as f64;
    evaluation.ndcg10 /= n;
    evaluation.recall100 /= n;
    evaluation.mrr10 /= n;
    evaluation.rankings = rankings;
    Ok(evaluation)
}

fn write_run(
    path: &Path,
    queries: &[&Query],
    rankings: &[Vec<Hit>],
    tag: &str,
) -> anyhow::Result<()> {
    if tag.is_empty() || tag.contains(char::is_whitespace) {
        bail!("--tag must be one word");
    }
    let mut text = String::new();
    for (query, hits) in queries.iter().zip(rankings) {
        for (rank, hit) in hits.iter().enumerate() {
            let _ = writeln!(
                text,
                "{} Q0 {} {} {:.6} {tag}",
                query.id,
                hit.doc_id,
                rank + 1,
                hit.score
            );
        }
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Non-empty lines of a text file with their 1-based numbers.
fn lines(path: &Path) -> anyhow::Result<Vec<(usize, String)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}:{}: cannot read the line", path.display(), i + 1))?;
        if !line.trim().is_empty() {
            out.push((i + 1, line));
        }
    }
    Ok(out)
}

fn load_queries(path: &Path) -> anyhow::Result<Vec<Query>> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(rename = "_id")]
        id: String,
        text: String,
    }
    let mut seen = HashSet::new();
    let mut queries = Vec::new();
    for (number, line) in lines(path)? {
        let parsed: Line = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!(
                "{}:{number}: not a query object with string `_id` and `text`: {e}",
                path.display()
            )
        })?;
        if !seen.insert(parsed.id.clone()) {
            bail!(
                "{}:{number}: duplicate query id {:?}",
                path.display(),
                parsed.id
            );
        }
        queries.push(Query {
            id: parsed.id,
            text: parsed.text,
        });
    }
    if queries.is_empty() {
        bail!("{}: no queries", path.display());
    }
    Ok(queries)
}

/// qrels as query id → document id → relevance (negative judgements count as 0).
fn load_qrels(path: &Path) -> anyhow::Result<HashMap<String, HashMap<String, u32>>> {
    let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for (index, (number, line)) in lines(path)?.into_iter().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (query, doc, score) = match fields.as_slice() {
            [query, doc, score] | [query, _, doc, score] => (*query, *doc, *score),
            _ => bail!(
                "{}:{number}: expected `query-id corpus-id score`, found {} columns",
                path.display(),
                fields.len()
            ),
        };
        let Ok(score) = score.parse::<i64>() else {
            if index == 0 {
                continue; // the header line
            }
            bail!(
                "{}:{number}: score {score:?} is not an integer",
                path.display()
            );
        };
        let relevance = u32::try_from(score.max(0)).unwrap_or(u32::MAX);
        qrels
            .entry(query.to_owned())
            .or_default()
            .insert(doc.to_owned(), relevance);
    }
    if qrels.is_empty() {
        bail!("{}: no judgements", path.display());
    }
    Ok(qrels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), contents).expect("write");
        file
    }

    #[test]
    fn qrels_skip_the_header_and_accept_three_or_four_columns() {
        let qrels = load_qrels(
            file("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t2\n\n2 0 d3 1\n3\td4\t-1\n").path(),
        )
        .expect("qrels load");
        assert_eq!(qrels["1"]["d2"], 2);
        assert_eq!(qrels["2"]["d3"], 1);
        assert_eq!(qrels["3"]["d4"], 0);
    }

    #[test]
    fn bad_qrels_lines_name_the_file_and_line() {
        let bad = file("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\n");
        let error = load_qrels(bad.path()).expect_err("two columns").to_string();
        assert!(
            error.contains(&format!("{}:3:", bad.path().display())),
            "{error}"
        );
        let bad = file("query-id\tcorpus-id\tscore\n1\td1\thigh\n");
        let error = load_qrels(bad.path()).expect_err("bad score").to_string();
        assert!(error.contains(":2: score \"high\""), "{error}");
    }

    #[test]
    fn bad_query_lines_name_the_file_and_line() {
        let bad = file("{\"_id\": \"1\", \"text\": \"a\"}\n{\"_id\": 2, \"text\": \"b\"}\n");
        let error = load_queries(bad.path())
            .expect_err("numeric id")
            .to_string();
        assert!(
            error.contains(&format!("{}:2:", bad.path().display())),
            "{error}"
        );
        let dup = file("{\"_id\": \"1\", \"text\": \"a\"}\n{\"_id\": \"1\", \"text\": \"b\"}\n");
        let error = load_queries(dup.path()).expect_err("duplicate").to_string();
        assert!(error.contains(":2: duplicate query id"), "{error}");
        let missing = load_queries(Path::new("/nonexistent/queries.jsonl"))
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("/nonexistent/queries.jsonl"), "{missing}");
    }
}
