//! A corpus's document vectors for `eval beir --mode dense|hybrid`: embedded with the model (title and
//! text, as `retrieve` embeds a gathered document) and optionally kept in a file, so that repeated
//! evaluations of one corpus with one model embed it once.
//!
//! The file is a JSON header line (`model`, `corpus` fingerprint, `dim`, `count`) followed by
//! `count × dim` little-endian `f32`s. A file whose header names another model or corpus, or whose
//! length does not match, is recomputed and rewritten, never trusted.

use anyhow::{Context, bail};
use researchops_core::embedding::{vector_from_bytes, vector_to_bytes};
use researchops_search::DenseIndex;
use researchops_search::embed::Embedder;
use researchops_sources::LocalCorpus;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// Documents embedded between two progress lines.
const PROGRESS_EVERY: usize = 1000;

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
struct Header {
    model: String,
    corpus: String,
    dim: usize,
    count: usize,
}

/// The corpus's vectors and how they were obtained.
pub struct CorpusVectors {
    /// Searchable by cosine.
    pub index: DenseIndex,
    /// Time spent embedding (zero when read from the file).
    pub embed_time: Duration,
    /// Read back from the vectors file.
    pub from_file: bool,
}

/// The text a document is embedded as.
pub fn document_text(title: &str, text: &str) -> String {
    format!("{title}\n{text}")
}

/// Embeds every document of `corpus` (or reads the vectors back from `file`).
pub fn corpus_vectors(
    model: &Embedder,
    corpus: &LocalCorpus,
    file: Option<&Path>,
) -> anyhow::Result<CorpusVectors> {
    let header = Header {
        model: model.model_id().to_owned(),
        corpus: corpus.fingerprint().to_owned(),
        dim: model.dim(),
        count: corpus.len(),
    };
    if let Some(path) = file.filter(|p| p.exists()) {
        if let Some(vectors) = read(path, &header)? {
            return Ok(CorpusVectors {
                index: build_index(corpus, &vectors, header.dim)?,
                embed_time: Duration::ZERO,
                from_file: true,
            });
        }
        eprintln!(
            "eval: {} holds other vectors (model or corpus changed); recomputing",
            path.display()
        );
    }
    let started = Instant::now();
    let mut vectors = Vec::with_capacity(corpus.len());
    for (n, chunk) in corpus.documents().chunks(PROGRESS_EVERY).enumerate() {
        let texts: Vec<String> = chunk
            .iter()
            .map(|d| document_text(&d.title, &d.text))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        vectors.extend(model.embed(&refs)?);
        eprintln!(
            "eval: embedded {}/{} documents",
            (n * PROGRESS_EVERY + chunk.len()),
            corpus.len()
        );
    }
    let embed_time = started.elapsed();
    if let Some(path) = file {
        write(path, &header, &vectors)?;
    }
    Ok(CorpusVectors {
        index: build_index(corpus, &vectors, header.dim)?,
        embed_time,
        from_file: false,
    })
}

fn build_index(
    corpus: &LocalCorpus,
    vectors: &[Vec<f32>],
    dim: usize,
) -> anyhow::Result<DenseIndex> {
    let mut index = DenseIndex::new(dim);
    for (doc, vector) in corpus.documents().iter().zip(vectors) {
        index.push(doc.id.clone(), vector)?;
    }
    Ok(index)
}

fn read(path: &Path, expected: &Header) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let Ok(header) = serde_json::from_slice::<Header>(&bytes[..newline]) else {
        return Ok(None);
    };
    let body = &bytes[newline + 1..];
    if &header != expected || body.len() != header.count * header.dim * 4 {
        return Ok(None);
    }
    body.chunks_exact(header.dim * 4)
        .map(|chunk| vector_from_bytes(chunk, header.dim).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

fn write(path: &Path, header: &Header, vectors: &[Vec<f32>]) -> anyhow::Result<()> {
    if vectors.iter().any(|v| v.len() != header.dim) {
        bail!("the model returned a vector of the wrong width");
    }
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer(&mut file, header)?;
        file.write_all(b"\n")?;
        for vector in vectors {
            file.write_all(&vector_to_bytes(vector))?;
        }
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok::<_, anyhow::Error>(())
    })();
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_vectors_file_is_read_back_only_for_its_model_and_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        let header = Header {
            model: "m".into(),
            corpus: "c".into(),
            dim: 2,
            count: 2,
        };
        write(&path, &header, &[vec![1.0, 0.0], vec![0.5, -0.5]]).unwrap();
        assert_eq!(
            read(&path, &header).unwrap(),
            Some(vec![vec![1.0, 0.0], vec![0.5, -0.5]])
        );
        let other = Header {
            model: "other".into(),
            ..header
        };
        assert_eq!(read(&path, &other).unwrap(), None);
        std::fs::write(&path, b"not a header").unwrap();
        assert_eq!(read(&path, &other).unwrap(), None);
    }
}
