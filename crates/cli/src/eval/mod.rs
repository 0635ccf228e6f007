//! `researchops eval …`: retrieval and report quality measured on labelled data and printed.
//! Each evaluation lives in its own module; this one only lists them.

mod beir;

use clap::Subcommand;

pub use beir::{BeirArgs, Mode};

/// Evaluations.
#[derive(Subcommand, Clone, Debug)]
pub enum EvalCommand {
    /// Retrieval quality and speed on a BEIR-format data set (corpus, queries, qrels).
    Beir(BeirArgs),
}

/// Runs one evaluation, printing its figures on stdout.
pub async fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Beir(args) => tokio::task::spawn_blocking(move || beir::run(&args)).await?,
    }
}
