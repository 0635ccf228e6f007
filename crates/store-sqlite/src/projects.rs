//! Tenants and projects.

use crate::SqliteStore;
use crate::rows::{self, PROJECT_COLUMNS, db_err, now_ms};
use researchops_core::{
    NewProject, Page, PageRequest, Project, ProjectId, ProjectPatch, StoreError, TenantId,
};
use sqlx::SqlitePool;

pub(crate) async fn ensure_tenant(
    store: &SqliteStore,
    tenant: TenantId,
    name: &str,
) -> Result<(), StoreError> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tenants WHERE id = ?")
        .bind(tenant.to_string())
        .fetch_optional(&store.reader)
        .await
        .map_err(db_err)?;
    if exists.is_some() {
        return Ok(());
    }
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(name)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn create(
    store: &SqliteStore,
    tenant: TenantId,
    project: NewProject,
) -> Result<Project, StoreError> {
    let id = ProjectId::new();
    let now = now_ms();
    let mut tx = store.write().await?;
    sqlx::query(
        "INSERT INTO projects (id, tenant_id, name, description, created_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .bind(&project.name)
    .bind(&project.description)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Project {
        id,
        name: project.name,
        description: project.description,
        created_at: rows::to_dt(now),
        last_activity_at: rows::to_dt(now),
    })
}

pub(crate) async fn list(
    store: &SqliteStore,
    tenant: TenantId,
    page: &PageRequest,
) -> Result<Page<Project>, StoreError> {
    let (after_ms, after_id) = rows::keyset_start(page)?;
    let sql = format!(
        "SELECT {PROJECT_COLUMNS} FROM projects WHERE tenant_id = ? \
         AND (last_activity_at < ? OR (last_activity_at = ? AND (? = '' OR id < ?))) \
         ORDER BY last_activity_at DESC, id DESC LIMIT ?"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(after_ms)
        .bind(after_ms)
        .bind(&after_id)
        .bind(&after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&store.reader)
        .await
        .map_err(db_err)?;
    let items = rows
        .iter()
        .map(rows::project)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows::keyset_page(items, page, |p| {
        (p.last_activity_at.timestamp_millis(), p.id.to_string())
    }))
}

pub(crate) async fn get(
    pool: &SqlitePool,
    tenant: TenantId,
    id: ProjectId,
) -> Result<Project, StoreError> {
    let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ? AND tenant_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::project(&row)
}

pub(crate) async fn update(
    store: &SqliteStore,
    tenant: TenantId,
    id: ProjectId,
    patch: ProjectPatch,
) -> Result<Project, StoreError> {
    let mut tx = store.write().await?;
    let clear_description = matches!(patch.description, Some(None));
    let description = patch.description.flatten();
    let sql = format!(
        "UPDATE projects SET name = COALESCE(?, name), \
         description = CASE WHEN ? THEN NULL ELSE COALESCE(?, description) END, last_activity_at = ? \
         WHERE id = ? AND tenant_id = ? RETURNING {PROJECT_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(patch.name)
        .bind(clear_description)
        .bind(description)
        .bind(now_ms())
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    let project = rows::project(&row)?;
    tx.commit().await.map_err(db_err)?;
    Ok(project)
}

pub(crate) async fn delete(
    store: &SqliteStore,
    tenant: TenantId,
    id: ProjectId,
) -> Result<(), StoreError> {
    let mut tx = store.write().await?;
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ? AND tenant_id = ?")
            .bind(id.to_string())
            .bind(tenant.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM runs WHERE project_id = ? AND tenant_id = ? AND status IN ('created', 'queued', 'running')",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    if active > 0 {
        return Err(StoreError::Conflict(format!(
            "the project has {active} active run(s); cancel them or wait for them to finish"
        )));
    }
    // Runs and everything they own go by ON DELETE CASCADE.
    sqlx::query("DELETE FROM projects WHERE id = ? AND tenant_id = ?")
        .bind(id.to_string())
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}
