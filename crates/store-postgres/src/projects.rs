//! Tenants and projects: creation, keyset-paginated listing by last activity, patches, and deletion
//! (refused while a run is active; runs and their rows go by `ON DELETE CASCADE`).

use crate::PgStore;
use crate::rows::{self, PROJECT_COLUMNS, db_err};
use researchops_core::{
    NewProject, Page, PageRequest, Project, ProjectId, ProjectPatch, StoreError, TenantId,
};

pub(crate) async fn ensure_tenant(
    store: &PgStore,
    tenant: TenantId,
    name: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(tenant.0)
        .bind(name)
        .execute(&store.pool)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn create(
    store: &PgStore,
    tenant: TenantId,
    project: NewProject,
) -> Result<Project, StoreError> {
    let sql = format!(
        "INSERT INTO projects (id, tenant_id, name, description, created_at, last_activity_at) \
         VALUES ($1, $2, $3, $4, now(), now()) RETURNING {PROJECT_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ProjectId::new().0)
        .bind(tenant.0)
        .bind(&project.name)
        .bind(&project.description)
        .fetch_one(&store.pool)
        .await
        .map_err(db_err)?;
    rows::project(&row)
}

pub(crate) async fn list(
    store: &PgStore,
    tenant: TenantId,
    page: &PageRequest,
) -> Result<Page<Project>, StoreError> {
    let (after_ms, after_id) = rows::keyset_start(page)?;
    let sql = format!(
        "SELECT {PROJECT_COLUMNS} FROM projects WHERE tenant_id = $1 \
         AND (last_activity_ms, id) < ($2, $3) \
         ORDER BY last_activity_ms DESC, id DESC LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(after_ms)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&store.pool)
        .await
        .map_err(db_err)?;
    let items = rows
        .iter()
        .map(rows::project)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows::keyset_page(items, page, |p| {
        (p.last_activity_at, p.id.0)
    }))
}

pub(crate) async fn get(
    store: &PgStore,
    tenant: TenantId,
    id: ProjectId,
) -> Result<Project, StoreError> {
    let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1 AND tenant_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.0)
        .bind(tenant.0)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::project(&row)
}

pub(crate) async fn update(
    store: &PgStore,
    tenant: TenantId,
    id: ProjectId,
    patch: ProjectPatch,
) -> Result<Project, StoreError> {
    let clear_description = matches!(patch.description, Some(None));
    let description = patch.description.flatten();
    let sql = format!(
        "UPDATE projects SET name = COALESCE($1, name), \
         description = CASE WHEN $2 THEN NULL ELSE COALESCE($3, description) END, \
         last_activity_at = now() \
         WHERE id = $4 AND tenant_id = $5 RETURNING {PROJECT_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(patch.name)
        .bind(clear_description)
        .bind(description)
        .bind(id.0)
        .bind(tenant.0)
        .fetch_optional(&store.pool)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    rows::project(&row)
}

pub(crate) async fn delete(
    store: &PgStore,
    tenant: TenantId,
    id: ProjectId,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    // The row lock conflicts with the key-share lock a concurrent run insert takes on its project:
    // a run created meanwhile is either committed before the count below, or fails on the key.
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM projects WHERE id = $1 AND tenant_id = $2 FOR UPDATE")
            .bind(id.0)
            .bind(tenant.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM runs WHERE project_id = $1 AND tenant_id = $2 \
         AND status IN ('created', 'queued', 'running')",
    )
    .bind(id.0)
    .bind(tenant.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    if active > 0 {
        let refused = StoreError::Conflict(format!(
            "the project has {active} active run(s); cancel them or wait for them to finish"
        ));
        return store.refuse(tx, refused).await;
    }
    // Runs and everything they own go by ON DELETE CASCADE.
    sqlx::query("DELETE FROM projects WHERE id = $1 AND tenant_id = $2")
        .bind(id.0)
        .bind(tenant.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}
