//! `researchops admin …`: operator commands. `copy-store` moves a whole embedded installation (every
//! row, and the blobs when asked) from SQLite into an empty PostgreSQL database — the path a growing
//! installation takes to scale out.

use anyhow::Context;
use clap::{Args, Subcommand};
use researchops_blobs::LocalBlobStore;
use researchops_core::BlobStore;
use researchops_core::transfer::TABLES;
use researchops_store_postgres::{PgOptions, PgStore};
use researchops_store_sqlite::{Durability, SqliteStore};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Operator commands.
#[derive(Subcommand, Clone, Debug)]
pub enum AdminCommand {
    /// Copy an embedded installation (SQLite) into an empty PostgreSQL database.
    CopyStore(CopyStoreArgs),
}

/// `admin copy-store`.
#[derive(Args, Clone, Debug)]
pub struct CopyStoreArgs {
    /// Source: `sqlite://PATH` to the embedded database file.
    #[arg(long)]
    pub from: String,
    /// Destination: `postgres://…`, an empty database.
    #[arg(long)]
    pub to: String,
    /// The source's blob directory (default: `blobs` beside the database file).
    #[arg(long)]
    pub from_blobs: Option<PathBuf>,
    /// Where the blobs should live afterwards (`s3://bucket/prefix` or a directory); unset: they stay
    /// where they are, and every node must be given that directory.
    #[arg(long)]
    pub to_blob_url: Option<String>,
}

/// Rows read and written per batch.
const BATCH: u32 = 500;

/// Runs an admin command.
pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CopyStore(args) => copy_store(args).await,
    }
}

async fn copy_store(args: CopyStoreArgs) -> anyhow::Result<()> {
    let source_path = PathBuf::from(
        args.from
            .strip_prefix("sqlite://")
            .context("--from must be sqlite://PATH")?,
    );
    anyhow::ensure!(
        source_path.is_file(),
        "no SQLite database at {}",
        source_path.display()
    );
    anyhow::ensure!(
        args.to.starts_with("postgres://") || args.to.starts_with("postgresql://"),
        "--to must be a postgres:// URL"
    );
    let source = SqliteStore::open(&source_path, Durability::Normal)
        .await
        .context("cannot open the source")?;
    let target = PgStore::connect(
        &args.to,
        PgOptions {
            max_connections: 4,
            listen: false,
            ..PgOptions::default()
        },
    )
    .await
    .with_context(|| {
        format!(
            "cannot open the destination ({})",
            crate::app::redact(&args.to)
        )
    })?;
    anyhow::ensure!(
        target.is_empty().await?,
        "the destination database is not empty; copy-store only fills an empty one"
    );
    let mut blob_keys = BTreeSet::new();
    for table in TABLES {
        let sha_column = table.columns.iter().position(|(name, _)| *name == "sha256");
        let mut after = 0;
        let mut copied = 0usize;
        loop {
            let (rows, last) = source.export_rows(table, after, BATCH).await?;
            let Some(last) = last else { break };
            if let Some(i) = sha_column {
                blob_keys.extend(
                    rows.iter()
                        .filter_map(|r| r[i].as_str().map(str::to_string)),
                );
            }
            target
                .import_rows(table, &rows)
                .await
                .with_context(|| format!("copying {}", table.name))?;
            copied += rows.len();
            after = last;
        }
        println!("{:>14}: {copied} rows", table.name);
    }
    target.finish_import().await?;
    if let Some(url) = &args.to_blob_url {
        let from_dir = args.from_blobs.clone().unwrap_or_else(|| {
            source_path
                .parent()
                .map(|p| p.join("blobs"))
                .unwrap_or_else(|| "blobs".into())
        });
        let from = LocalBlobStore::open(&from_dir)?;
        let data_dir = source_path.parent().map(PathBuf::from).unwrap_or_default();
        let to = researchops_blobs::open(&researchops_blobs::location(Some(url), &data_dir)?)?;
        for key in &blob_keys {
            let bytes = from
                .get(key)
                .await
                .with_context(|| format!("blob {key} is missing from {}", from_dir.display()))?;
            to.put(bytes)
                .await
                .with_context(|| format!("cannot store blob {key}"))?;
        }
        println!("{:>14}: {} copied to {url}", "blobs", blob_keys.len());
    } else {
        println!(
            "{:>14}: {} left in place; give every node that directory (or RESEARCHOPS_BLOB_URL)",
            "blobs",
            blob_keys.len()
        );
    }
    source.close().await;
    target.close().await;
    println!("copied into {}", crate::app::redact(&args.to));
    Ok(())
}
