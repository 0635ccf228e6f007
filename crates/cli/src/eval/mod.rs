//! `researchops eval …`: quality figures measured through the product itself, printed (and, with
//! `--json`, emitted as one object for regression tests). Evaluations never change the pipeline.

pub mod claims;

use clap::Subcommand;

/// Evaluations.
#[derive(Subcommand, Clone, Debug)]
pub enum EvalCommand {
    /// Ask SciFact-style claims as research questions; citation and rationale recall, gold
    /// precision, abstention on off-topic questions.
    Claims(claims::ClaimsArgs),
}

/// Runs an evaluation and prints its figures.
pub async fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Claims(args) => claims::run(args).await,
    }
}
