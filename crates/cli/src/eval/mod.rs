//! `researchops eval …`: retrieval and report quality measured through the product itself on labelled
//! data, printed (and, with `--json` where offered, emitted as one object for regression tests). Each
//! evaluation lives in its own module; this one only lists them. Evaluations never change the pipeline.

mod beir;
pub mod claims;
mod vectors;

use clap::Subcommand;

pub use beir::{BeirArgs, Fusion, Mode};

/// Evaluations.
#[derive(Subcommand, Clone, Debug)]
pub enum EvalCommand {
    /// Retrieval quality and speed on a BEIR-format data set (corpus, queries, qrels).
    Beir(BeirArgs),
    /// Ask SciFact-style claims as research questions; citation and rationale recall, gold
    /// precision, abstention on off-topic questions.
    Claims(claims::ClaimsArgs),
}

/// Runs one evaluation, printing its figures on stdout.
pub async fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Beir(args) => tokio::task::spawn_blocking(move || beir::run(&args)).await?,
        EvalCommand::Claims(args) => claims::run(args).await,
    }
}
