//! Measures the embedder: model load time and throughput (sentences per second) over the sentences
//! of the bundled SciFact sample, then a dense top-10 query over those sentences.
//!
//! ```text
//! cargo run --release -p researchops-search --example embed_bench -- [MODEL_DIR] [MAX_SENTENCES]
//! ```
//! `MODEL_DIR` defaults to `RESEARCHOPS_EMBED_MODEL_DIR`; `MAX_SENTENCES` to 2,000.

use anyhow::Context;
use researchops_search::{DenseIndex, Embedder, split_sentences};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            std::env::var_os(researchops_search::embed::MODEL_DIR_ENV)
                .context("give a model directory or set RESEARCHOPS_EMBED_MODEL_DIR")?,
        ),
    };
    let max: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2000);

    let corpus = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/scifact/corpus.jsonl"),
    )?;
    let mut sentences = Vec::new();
    for line in corpus.lines() {
        let doc: serde_json::Value = serde_json::from_str(line)?;
        let text = doc["text"].as_str().unwrap_or_default();
        for range in split_sentences(text) {
            sentences.push(text[range].to_string());
        }
    }
    sentences.truncate(max);
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();

    let start = Instant::now();
    let embedder = Embedder::load(&dir)?;
    let load = start.elapsed();
    println!(
        "model {} (dim {}) loaded in {:.3} s",
        embedder.model_id(),
        embedder.dim(),
        load.as_secs_f64()
    );

    let start = Instant::now();
    let vectors = embedder.embed(&refs)?;
    let took = start.elapsed().as_secs_f64();
    let mean_chars = refs.iter().map(|s| s.len()).sum::<usize>() as f64 / refs.len().max(1) as f64;
    println!(
        "embedded {} sentences (mean {:.0} chars) in {:.2} s: {:.0} sentences/s (batch {})",
        refs.len(),
        mean_chars,
        took,
        refs.len() as f64 / took,
        researchops_search::embed::BATCH_SIZE
    );

    let mut index = DenseIndex::new(embedder.dim());
    for (i, v) in vectors.iter().enumerate() {
        index.push(i.to_string(), v)?;
    }
    let query = embedder.embed(&["Does vitamin D supplementation affect bone mineral density?"])?;
    let start = Instant::now();
    let hits = index.search(&query[0], 10)?;
    println!(
        "dense top-10 over {} vectors in {:.3} ms; best: {:.3} {}",
        index.len(),
        start.elapsed().as_secs_f64() * 1000.0,
        hits[0].score,
        refs[hits[0].doc_id.parse::<usize>()?]
    );
    Ok(())
}
