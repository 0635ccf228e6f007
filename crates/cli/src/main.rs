//! `researchops`: the one binary. Parses the command line and hands off to the library.

use clap::{Parser, Subcommand};
use researchops::research::ResearchError;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "researchops",
    version,
    about = "ResearchOps Studio: durable, cited research runs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// API + in-process workers.
    Serve(researchops::serve::ServeArgs),
    /// Workers only (no HTTP).
    Worker(researchops::serve::WorkerCommandArgs),
    /// One research run from the command line.
    Research(researchops::research::ResearchArgs),
    /// Apply database migrations and exit.
    Migrate(researchops::config::StorageArgs),
    /// Operator commands (`copy-store`).
    #[command(subcommand)]
    Admin(researchops::admin::AdminCommand),
    /// Performance benchmarks (print figures).
    #[command(subcommand)]
    Bench(researchops::bench::BenchCommand),
    /// Quality evaluations on labelled data (print figures).
    #[command(subcommand)]
    Eval(researchops::eval::EvalCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let result = match cli.command {
            Command::Serve(args) => {
                researchops::telemetry::init(true, "info");
                researchops::serve::run(args).await
            }
            Command::Worker(args) => {
                researchops::telemetry::init(true, "info");
                researchops::serve::run_worker(args).await
            }
            Command::Migrate(args) => {
                researchops::telemetry::init(false, "warn");
                researchops::app::open_storage(
                    &args,
                    researchops_store_postgres::PgOptions::default().idle_transaction_timeout,
                )
                .await
                .map(|s| println!("migrations applied ({})", s.description))
            }
            Command::Admin(command) => {
                researchops::telemetry::init(false, "warn");
                researchops::admin::run(command).await
            }
            Command::Bench(command) => {
                researchops::telemetry::init(false, "warn");
                researchops::bench::run(command).await
            }
            Command::Eval(command) => {
                researchops::telemetry::init(false, "warn");
                researchops::eval::run(command).await
            }
            Command::Research(args) => {
                researchops::telemetry::init(false, "warn");
                return match researchops::research::run(args).await {
                    Ok(paths) => {
                        for path in paths {
                            println!("{}", path.display());
                        }
                        ExitCode::SUCCESS
                    }
                    Err(ResearchError::Usage(message)) => {
                        eprintln!("error: {message}");
                        ExitCode::from(2)
                    }
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        ExitCode::FAILURE
                    }
                };
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
