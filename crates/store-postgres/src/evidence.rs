//! A run's evidence and outputs: sources, snapshots (with their raw and text blob keys), snippets, the
//! claim map and artifacts — written once by the stage commit that produces them (each table in one
//! `unnest` insert, inside the caller's fenced transaction) and read back tenant-scoped.

use crate::PgStore;
use crate::rows::{db_err, from_json, get};
use crate::runs::ensure_visible;
use chrono::{DateTime, Utc};
use researchops_core::{
    Artifact, ArtifactId, Claim, EvidenceRecord, RunId, Snapshot, Snippet, StageCommit, StoreError,
    TenantId, Verdict,
};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use std::collections::HashMap;
use uuid::Uuid;

/// Inserts a stage commit's evidence, claims and artifacts. The caller holds the lease and commits.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
    commit: &StageCommit,
) -> Result<(), StoreError> {
    insert_evidence(conn, tenant, run, &commit.evidence).await?;
    insert_claims(conn, tenant, run, &commit.claims).await?;
    insert_artifacts(conn, tenant, run, &commit.artifacts).await
}

async fn insert_evidence(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
    records: &[EvidenceRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let sources: Vec<_> = records.iter().map(|r| &r.source).collect();
    sqlx::query(
        "INSERT INTO sources (id, tenant_id, run_id, connector, external_id, title, authors, year, doi, url, \
         rank, score, venue, arxiv_id) \
         SELECT u.id, $1, $2, u.connector, u.external_id, u.title, u.authors, u.year, u.doi, u.url, u.rank, u.score, \
         u.venue, u.arxiv_id \
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::int4[], $9::text[], \
                     $10::text[], $11::int4[], $12::float8[], $13::text[], $14::text[]) \
           AS u (id, connector, external_id, title, authors, year, doi, url, rank, score, venue, arxiv_id)",
    )
    .bind(tenant.0)
    .bind(run.0)
    .bind(sources.iter().map(|s| s.id.0).collect::<Vec<Uuid>>())
    .bind(sources.iter().map(|s| s.connector.as_str()).collect::<Vec<_>>())
    .bind(sources.iter().map(|s| s.external_id.as_str()).collect::<Vec<_>>())
    .bind(sources.iter().map(|s| s.title.as_str()).collect::<Vec<_>>())
    .bind(sources.iter().map(|s| Json(&s.authors)).collect::<Vec<_>>())
    .bind(sources.iter().map(|s| s.year).collect::<Vec<Option<i32>>>())
    .bind(sources.iter().map(|s| s.doi.as_deref()).collect::<Vec<_>>())
    .bind(sources.iter().map(|s| s.url.as_deref()).collect::<Vec<_>>())
    .bind(sources.iter().map(|s| s.rank).collect::<Vec<i32>>())
    .bind(sources.iter().map(|s| s.score).collect::<Vec<f64>>())
    .bind(sources.iter().map(|s| s.venue.as_deref()).collect::<Vec<_>>())
    .bind(sources.iter().map(|s| s.arxiv_id.as_deref()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    // The snapshot belongs to the record's source, whatever its own `source_id` field says.
    let snapshots: Vec<(&Snapshot, Uuid)> = records
        .iter()
        .map(|r| (&r.snapshot, r.source.id.0))
        .collect();
    sqlx::query(
        "INSERT INTO snapshots (id, tenant_id, source_id, sha256, size_bytes, mime_type, retrieved_at, \
         text_sha256, text_size_bytes) \
         SELECT u.id, $1, u.source_id, u.sha256, u.size_bytes, u.mime_type, u.retrieved_at, u.text_sha256, \
         u.text_size_bytes \
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::int8[], $6::text[], $7::timestamptz[], \
                     $8::text[], $9::int8[]) \
           AS u (id, source_id, sha256, size_bytes, mime_type, retrieved_at, text_sha256, text_size_bytes)",
    )
    .bind(tenant.0)
    .bind(snapshots.iter().map(|(p, _)| p.id.0).collect::<Vec<Uuid>>())
    .bind(snapshots.iter().map(|(_, s)| *s).collect::<Vec<Uuid>>())
    .bind(snapshots.iter().map(|(p, _)| p.sha256.as_str()).collect::<Vec<_>>())
    .bind(snapshots.iter().map(|(p, _)| p.size_bytes).collect::<Vec<i64>>())
    .bind(snapshots.iter().map(|(p, _)| p.mime_type.as_str()).collect::<Vec<_>>())
    .bind(snapshots.iter().map(|(p, _)| p.retrieved_at).collect::<Vec<DateTime<Utc>>>())
    .bind(snapshots.iter().map(|(p, _)| p.text_sha256.as_str()).collect::<Vec<_>>())
    .bind(snapshots.iter().map(|(p, _)| p.text_size_bytes).collect::<Vec<i64>>())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let snippets: Vec<(&Snippet, Uuid, Uuid)> = records
        .iter()
        .flat_map(|r| {
            r.snippets
                .iter()
                .map(|n| (n, r.snapshot.id.0, r.source.id.0))
        })
        .collect();
    if snippets.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO snippets (id, tenant_id, run_id, snapshot_id, source_id, ord, text, start_byte, end_byte) \
         SELECT u.id, $1, $2, u.snapshot_id, u.source_id, u.ord, u.text, u.start_byte, u.end_byte \
         FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::int4[], $7::text[], $8::int8[], $9::int8[]) \
           AS u (id, snapshot_id, source_id, ord, text, start_byte, end_byte)",
    )
    .bind(tenant.0)
    .bind(run.0)
    .bind(snippets.iter().map(|(n, _, _)| n.id.0).collect::<Vec<Uuid>>())
    .bind(snippets.iter().map(|(_, p, _)| *p).collect::<Vec<Uuid>>())
    .bind(snippets.iter().map(|(_, _, s)| *s).collect::<Vec<Uuid>>())
    .bind(snippets.iter().map(|(n, _, _)| n.ord).collect::<Vec<i32>>())
    .bind(snippets.iter().map(|(n, _, _)| n.text.as_str()).collect::<Vec<_>>())
    .bind(snippets.iter().map(|(n, _, _)| n.start_byte).collect::<Vec<i64>>())
    .bind(snippets.iter().map(|(n, _, _)| n.end_byte).collect::<Vec<i64>>())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_claims(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
    claims: &[Claim],
) -> Result<(), StoreError> {
    if claims.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO claim_map (run_id, claim_id, tenant_id, ord, section, text, snippet_ids, support, verdict) \
         SELECT $1, u.claim_id, $2, u.ord - 1, u.section, u.text, u.snippet_ids, u.support, u.verdict \
         FROM unnest($3::text[], $4::text[], $5::text[], $6::jsonb[], $7::float8[], $8::text[]) \
           WITH ORDINALITY AS u (claim_id, section, text, snippet_ids, support, verdict, ord)",
    )
    .bind(run.0)
    .bind(tenant.0)
    .bind(claims.iter().map(|c| c.claim_id.as_str()).collect::<Vec<_>>())
    .bind(claims.iter().map(|c| c.section.as_str()).collect::<Vec<_>>())
    .bind(claims.iter().map(|c| c.text.as_str()).collect::<Vec<_>>())
    .bind(claims.iter().map(|c| Json(&c.snippet_ids)).collect::<Vec<_>>())
    .bind(claims.iter().map(|c| c.support).collect::<Vec<f64>>())
    .bind(claims.iter().map(|c| c.verdict.as_str()).collect::<Vec<_>>())
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_artifacts(
    conn: &mut PgConnection,
    tenant: TenantId,
    run: RunId,
    artifacts: &[Artifact],
) -> Result<(), StoreError> {
    if artifacts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO artifacts (id, tenant_id, run_id, name, kind, mime_type, size_bytes, sha256, created_at) \
         SELECT u.id, $1, $2, u.name, u.kind, u.mime_type, u.size_bytes, u.sha256, u.created_at \
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[], $9::timestamptz[]) \
           AS u (id, name, kind, mime_type, size_bytes, sha256, created_at)",
    )
    .bind(tenant.0)
    .bind(run.0)
    .bind(artifacts.iter().map(|a| a.id.0).collect::<Vec<Uuid>>())
    .bind(artifacts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>())
    .bind(artifacts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>())
    .bind(artifacts.iter().map(|a| a.mime_type.as_str()).collect::<Vec<_>>())
    .bind(artifacts.iter().map(|a| a.size_bytes).collect::<Vec<i64>>())
    .bind(artifacts.iter().map(|a| a.sha256.as_str()).collect::<Vec<_>>())
    .bind(artifacts.iter().map(|a| a.created_at).collect::<Vec<DateTime<Utc>>>())
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn list_evidence(
    store: &PgStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Vec<EvidenceRecord>, StoreError> {
    ensure_visible(store, tenant, id).await?;
    let sources = sqlx::query(
        "SELECT s.id, s.connector, s.external_id, s.title, s.authors, s.year, s.doi, s.url, s.rank, s.score, \
         s.venue, s.arxiv_id, p.id AS snapshot_id, p.sha256, p.size_bytes, p.mime_type, p.retrieved_at, p.text_sha256, \
         p.text_size_bytes \
         FROM sources s JOIN snapshots p ON p.source_id = s.id \
         WHERE s.run_id = $1 AND s.tenant_id = $2 ORDER BY s.rank, s.id",
    )
    .bind(id.0)
    .bind(tenant.0)
    .fetch_all(&store.pool)
    .await
    .map_err(db_err)?;
    let snippets = sqlx::query(
        "SELECT id, snapshot_id, source_id, ord, text, start_byte, end_byte FROM snippets \
         WHERE run_id = $1 AND tenant_id = $2 ORDER BY snapshot_id, ord",
    )
    .bind(id.0)
    .bind(tenant.0)
    .fetch_all(&store.pool)
    .await
    .map_err(db_err)?;
    let mut by_snapshot: HashMap<Uuid, Vec<Snippet>> = HashMap::new();
    for row in &snippets {
        let snapshot_id: Uuid = get(row, "snapshot_id")?;
        by_snapshot.entry(snapshot_id).or_default().push(Snippet {
            id: get::<Uuid>(row, "id")?.into(),
            snapshot_id: snapshot_id.into(),
            source_id: get::<Uuid>(row, "source_id")?.into(),
            ord: get(row, "ord")?,
            text: get(row, "text")?,
            start_byte: get(row, "start_byte")?,
            end_byte: get(row, "end_byte")?,
        });
    }
    sources
        .iter()
        .map(|row| record(row, id, &mut by_snapshot))
        .collect()
}

fn record(
    row: &PgRow,
    run: RunId,
    by_snapshot: &mut HashMap<Uuid, Vec<Snippet>>,
) -> Result<EvidenceRecord, StoreError> {
    let snapshot_id: Uuid = get(row, "snapshot_id")?;
    let source_id = get::<Uuid>(row, "id")?.into();
    Ok(EvidenceRecord {
        source: researchops_core::Source {
            id: source_id,
            run_id: run,
            connector: get(row, "connector")?,
            external_id: get(row, "external_id")?,
            title: get(row, "title")?,
            authors: from_json(get(row, "authors")?, "authors")?,
            year: get(row, "year")?,
            doi: get(row, "doi")?,
            url: get(row, "url")?,
            venue: get(row, "venue")?,
            arxiv_id: get(row, "arxiv_id")?,
            rank: get(row, "rank")?,
            score: get(row, "score")?,
        },
        snapshot: Snapshot {
            id: snapshot_id.into(),
            source_id,
            sha256: get(row, "sha256")?,
            size_bytes: get(row, "size_bytes")?,
            mime_type: get(row, "mime_type")?,
            retrieved_at: get(row, "retrieved_at")?,
            text_sha256: get(row, "text_sha256")?,
            text_size_bytes: get(row, "text_size_bytes")?,
        },
        snippets: by_snapshot.remove(&snapshot_id).unwrap_or_default(),
    })
}

pub(crate) async fn list_claims(
    store: &PgStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Vec<Claim>, StoreError> {
    ensure_visible(store, tenant, id).await?;
    let rows = sqlx::query(
        "SELECT claim_id, section, text, snippet_ids, support, verdict FROM claim_map \
         WHERE run_id = $1 AND tenant_id = $2 ORDER BY ord",
    )
    .bind(id.0)
    .bind(tenant.0)
    .fetch_all(&store.pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let verdict: String = get(row, "verdict")?;
            Ok(Claim {
                claim_id: get(row, "claim_id")?,
                section: get(row, "section")?,
                text: get(row, "text")?,
                snippet_ids: from_json(get(row, "snippet_ids")?, "snippet ids")?,
                support: get(row, "support")?,
                verdict: Verdict::parse(&verdict)
                    .ok_or_else(|| StoreError::Internal(format!("corrupt verdict `{verdict}`")))?,
            })
        })
        .collect()
}

const ARTIFACT_COLUMNS: &str = "id, run_id, name, kind, mime_type, size_bytes, sha256, created_at";

fn artifact(row: &PgRow) -> Result<Artifact, StoreError> {
    Ok(Artifact {
        id: get::<Uuid>(row, "id")?.into(),
        run_id: get::<Uuid>(row, "run_id")?.into(),
        name: get(row, "name")?,
        kind: get(row, "kind")?,
        mime_type: get(row, "mime_type")?,
        size_bytes: get(row, "size_bytes")?,
        sha256: get(row, "sha256")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn list_artifacts(
    store: &PgStore,
    tenant: TenantId,
    id: RunId,
) -> Result<Vec<Artifact>, StoreError> {
    ensure_visible(store, tenant, id).await?;
    let sql = format!(
        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = $1 AND tenant_id = $2 ORDER BY name"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(tenant.0)
        .fetch_all(&store.pool)
        .await
        .map_err(db_err)?;
    rows.iter().map(artifact).collect()
}

pub(crate) async fn get_artifact(
    store: &PgStore,
    tenant: TenantId,
    run: RunId,
    id: ArtifactId,
) -> Result<Artifact, StoreError> {
    let sql = format!(
        "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE id = $1 AND run_id = $2 AND tenant_id = $3"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(run.0)
        .bind(tenant.0)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    artifact(&row)
}
