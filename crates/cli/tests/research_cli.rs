//! `researchops research`: the real binary, a temporary working directory and data directory.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/scifact/corpus.jsonl"
    ))
}

fn research(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_researchops"))
        .arg("research")
        .args(args)
        .current_dir(cwd)
        .env("RESEARCHOPS_DATA_DIR", cwd.join("data"))
        .env_remove("RESEARCHOPS_CORPUS")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn a_question_produces_reports_in_a_folder_named_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let out = research(
        dir.path(),
        &[
            "--corpus",
            corpus.to_str().unwrap(),
            "What role do macrophages play in tumour growth?",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let folder = dir
        .path()
        .join("reports/what-role-do-macrophages-play-in-tumour-growth");
    for name in [
        "report.md",
        "report.html",
        "report.json",
        "references.bib",
        "references.ris",
        "context_bundle.json",
    ] {
        assert!(folder.join(name).is_file(), "{name} written");
        assert!(
            printed.iter().any(|p| p.ends_with(name)),
            "{name} printed: {printed:?}"
        );
    }
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(md.starts_with("# What role do macrophages play in tumour growth?"));
    assert!(
        stderr(&out).contains("export"),
        "progress is shown per stage: {}",
        stderr(&out)
    );
}

#[test]
fn formats_are_chosen_and_another_questions_folder_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let corpus = corpus.to_str().unwrap();
    let first = research(
        dir.path(),
        &["--corpus", corpus, "--format", "md", "Insulin resistance?"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let folder = dir.path().join("reports/insulin-resistance");
    assert!(folder.join("report.md").is_file());
    assert!(!folder.join("report.html").exists() && !folder.join("report.json").exists());
    // Same slug, different question: a new folder.
    let second = research(
        dir.path(),
        &["--corpus", corpus, "--format", "json", "insulin resistance"],
    );
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        dir.path()
            .join("reports/insulin-resistance-2/report.json")
            .is_file()
    );
    assert!(
        !folder.join("report.json").exists(),
        "the first question's folder is untouched"
    );
    // The same question again reuses its own folder.
    let again = research(
        dir.path(),
        &["--corpus", corpus, "--format", "md", "Insulin resistance?"],
    );
    assert_eq!(again.status.code(), Some(0));
    assert!(!dir.path().join("reports/insulin-resistance-3").exists());
}

#[test]
fn bad_arguments_and_unreadable_corpora_exit_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let corpus = corpus.to_str().unwrap();
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(
        &broken,
        "{\"_id\": \"1\", \"title\": \"t\", \"text\": \"x\"}\n{not json\n",
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["a question"], "no corpus"),
        (
            vec!["--corpus", "/no/such/file.jsonl", "a question"],
            "/no/such/file.jsonl",
        ),
        (
            vec!["--corpus", broken.to_str().unwrap(), "a question"],
            "line 2",
        ),
        (
            vec!["--corpus", corpus, "--format", "pdf", "a question"],
            "pdf",
        ),
        (vec!["--corpus", corpus, "   "], "empty"),
        (vec!["--corpus", corpus], "QUESTION"),
    ];
    for (args, expected) in cases {
        let out = research(dir.path(), &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_question_without_evidence_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus();
    let out = research(
        dir.path(),
        &[
            "--corpus",
            corpus.to_str().unwrap(),
            "zyxwv qqqzz frobnicate",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no_evidence"), "{}", stderr(&out));
    assert!(!dir.path().join("reports").exists());
}

#[test]
fn ctrl_c_cancels_the_run_cleanly() {
    use std::io::{BufRead, BufReader};
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    // The test hook holds `retrieve` for a minute, so the signal lands inside the run every time.
    let mut child = Command::new(env!("CARGO_BIN_EXE_researchops"))
        .args([
            "research",
            "--corpus",
            corpus.to_str().unwrap(),
            "What role do macrophages play in tumour growth?",
        ])
        .current_dir(dir.path())
        .env("RESEARCHOPS_DATA_DIR", dir.path().join("data"))
        .env_remove("RESEARCHOPS_CORPUS")
        .env("RESEARCHOPS_TEST_HOOKS", "1")
        .env("RESEARCHOPS_TEST_STAGE_DELAY", "retrieve=60000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let started = line.starts_with("retrieve: started");
        seen.push(line);
        if started {
            let pid = child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-INT", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
            break;
        }
    }
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    let text = seen.join("\n");
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("canceled"), "{text}");
    assert!(
        !dir.path().join("reports").exists(),
        "no report for a canceled run"
    );
}
