//! The scale-out backend: [`Store`](researchops_core::Store) and [`Queue`](researchops_core::Queue)
//! over PostgreSQL, for many API and worker processes on many machines sharing one database.
//!
//! This crate holds SQL and nothing else: business rules (the state machine, validation) come from
//! `researchops-core`. What it guarantees, and how:
//!
//! - **Claims never collide.** A claim locks its candidate jobs `FOR UPDATE SKIP LOCKED`, so
//!   concurrent workers anywhere skip each other's picks instead of waiting or double-claiming, and
//!   gives every job a fresh `lease_token`.
//! - **Fencing.** Every method taking a lease locks the job row and checks its `lease_token` inside
//!   its transaction; a stale lease is `LeaseLost` with no effect.
//! - **Per-run event order.** `run_events.id` comes from one identity sequence. Every transaction
//!   that inserts run events first locks the run row (`SELECT … FOR NO KEY UPDATE`) and keeps it
//!   until commit, so two transactions never insert events for the same run at once: within a run,
//!   commit order is id order, and an SSE client resuming after id N can never miss an event that
//!   commits late. Lock order is always job row, then run row, so the two never deadlock.
//! - **Wake-ups.** Transactions that commit run events `pg_notify` once per run, those that make
//!   jobs due once per transaction; after commit the store also publishes on its own hubs. With
//!   [`PgOptions::listen`] a background task LISTENs and republishes other nodes' notifications here.
//! - **Schema.** Migrations run at start-up under sqlx's advisory lock (many nodes may start at
//!   once); a database migrated by a newer binary is refused (`SchemaTooNew`).
//! - **Frozen processes release their locks.** Sessions idle inside a transaction longer than
//!   [`PgOptions::idle_transaction_timeout`] are ended by the server, so a paused or partitioned
//!   worker's row locks cannot keep its expired job from being rescued.
//! - **Secrets.** No error message contains the connection URL or its password.

mod embeddings;
mod evidence;
mod execution;
mod notify;
mod projects;
mod queue;
mod rows;
mod runs;
mod transfer;
mod transitions;

use async_trait::async_trait;
use researchops_core::{
    Artifact, ArtifactId, Claim, CreateRunOutcome, EventHub, EventId, EvidenceRecord, JobWakeup,
    Lane, Lease, NewEvent, NewProject, NewRun, Page, PageRequest, Project, ProjectId, ProjectPatch,
    Run, RunEnd, RunEvent, RunId, RunStart, Stage, StageCommit, StageGate, StoreError, TenantId,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long the first connection may take before `connect` gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The newest migration this binary knows.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// How to connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections in this process's pool (default 10). The LISTEN task holds one more.
    pub max_connections: u32,
    /// Whether to LISTEN for other nodes' commits and republish them on this store's hubs
    /// (default true). Without it, only this process's own commits wake its SSE streams and workers.
    pub listen: bool,
    /// How long the server lets one of this pool's sessions sit idle inside a transaction before it
    /// ends the session (`idle_in_transaction_session_timeout`; default 30 s). Our transactions only
    /// ever wait on the database, so an idle one belongs to a frozen or partitioned process: without
    /// this bound its row locks would hide its job from the rescuer (`SKIP LOCKED`) and stall the run
    /// forever. Set it to the worker lease: past that, the process has lost its lease anyway.
    pub idle_transaction_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            listen: true,
            idle_transaction_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL store. Cheap to clone (the pool and hubs are shared); the LISTEN task stops when
/// the last clone is dropped or [`PgStore::close`] is called.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    hub: EventHub,
    wakeup: JobWakeup,
    background: Arc<Background>,
}

/// The LISTEN task's handle; dropping the last store clone cancels it.
#[derive(Debug)]
struct Background {
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl PgStore {
    /// Connects to the database at `url`, refuses a schema newer than this binary, applies
    /// migrations (under sqlx's advisory lock) and, with `options.listen`, starts the LISTEN task.
    /// Errors never contain the URL or its password.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let secrets = secrets_of(url);
        let redact = |message: String| redact(message, &secrets);
        let connect_options = PgConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::Internal(redact(format!("invalid PostgreSQL connection URL: {e}")))
            })?
            .application_name("researchops");
        // One direct attempt first: a wrong URL or a stopped server fails at once with the driver's
        // reason (the pool would keep retrying a refused connection until its acquire timeout).
        let connect = PgConnection::connect_with(&connect_options);
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(match rows::db_err(e) {
                    StoreError::Unavailable(m) => StoreError::Unavailable(redact(format!(
                        "cannot connect to PostgreSQL: {m}"
                    ))),
                    StoreError::Internal(m) => {
                        StoreError::Internal(redact(format!("cannot connect to PostgreSQL: {m}")))
                    }
                    other => other,
                });
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        };
        check_schema_version(&mut conn).await?;
        let _ = conn.close().await;
        let idle_timeout = format!(
            "SET idle_in_transaction_session_timeout = {}",
            options
                .idle_transaction_timeout
                .as_millis()
                .clamp(1, i32::MAX as u128)
        );
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            // A SET per new connection rather than a startup `options` parameter, which PgBouncer
            // refuses (or ignores) by default.
            .after_connect(move |conn, _| {
                let sql = idle_timeout.clone();
                Box::pin(async move {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            // Fail fast while the database is away: callers retry (claim loop, heartbeats, HTTP 503),
            // and sqlx backs off reconnects by up to a fifth of this, which bounds recovery time.
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(connect_options.clone());
        // Through the pool: sqlx takes a session advisory lock on the connection it uses, so nodes
        // starting together migrate one at a time (on failure the pool, and the lock, are dropped).
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(found) if found > latest_migration() => {
                StoreError::SchemaTooNew {
                    found,
                    supported: latest_migration(),
                }
            }
            e => StoreError::Internal(redact(format!("migrations failed: {e}"))),
        })?;
        let hub = EventHub::default();
        let wakeup = JobWakeup::default();
        let stop = CancellationToken::new();
        let task = options.listen.then(|| {
            notify::spawn_listener(connect_options, hub.clone(), wakeup.clone(), stop.clone())
        });
        Ok(PgStore {
            pool,
            hub,
            wakeup,
            background: Arc::new(Background {
                stop,
                task: Mutex::new(task),
            }),
        })
    }

    /// Stops the LISTEN task and closes the pool (after the last use).
    pub async fn close(&self) {
        self.background.stop.cancel();
        let task = self
            .background
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.pool.close().await;
    }

    /// Begins a read-committed transaction.
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(rows::db_err)
    }

    /// Rolls `tx` back now and returns `refused`. A transaction that locked rows and then refuses
    /// releases them before the caller answers: sqlx rolls a dropped transaction back only once its
    /// connection goes back to the pool (in a spawned task), and until then a claim would skip the
    /// locked job and a writer would wait on it.
    async fn refuse<T>(
        &self,
        tx: Transaction<'static, Postgres>,
        refused: StoreError,
    ) -> Result<T, StoreError> {
        tx.rollback().await.map_err(rows::db_err)?;
        Err(refused)
    }

    /// Sends the hints with `pg_notify`, commits, then publishes them on this node's hubs.
    async fn commit(
        &self,
        mut tx: Transaction<'static, Postgres>,
        hints: notify::Hints,
    ) -> Result<(), StoreError> {
        hints.send(&mut tx).await?;
        tx.commit().await.map_err(rows::db_err)?;
        hints.publish(&self.hub, &self.wakeup);
        Ok(())
    }
}

/// The password a URL carries (in its user-info or a `password` parameter), as written and
/// percent-decoded.
fn secrets_of(url: &str) -> Vec<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = before_query.split('/').next().unwrap_or_default();
    let in_userinfo = authority
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    let in_query = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("password="));
    let mut secrets = Vec::new();
    for written in in_userinfo.into_iter().chain(in_query) {
        for secret in [written.to_string(), percent_decode(written)] {
            if !secret.is_empty() && !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

/// Replaces every secret in a message. The driver does not echo the URL; this is the second wall.
fn redact(mut message: String, secrets: &[String]) -> String {
    for secret in secrets {
        message = message.replace(secret.as_str(), "***");
    }
    message
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Refuses a database whose newest applied migration is newer than this binary knows.
async fn check_schema_version(conn: &mut PgConnection) -> Result<(), StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(rows::db_err)?;
    if !exists {
        return Ok(());
    }
    let found: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(rows::db_err)?;
    let supported = latest_migration();
    match found {
        Some(found) if found > supported => Err(StoreError::SchemaTooNew { found, supported }),
        _ => Ok(()),
    }
}

#[async_trait]
impl researchops_core::Store for PgStore {
    fn events(&self) -> &EventHub {
        &self.hub
    }

    fn wakeup(&self) -> &JobWakeup {
        &self.wakeup
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(rows::db_err)?;
        if version.unwrap_or(0) < latest_migration() {
            return Err(StoreError::Unavailable("migrations are not applied".into()));
        }
        Ok(())
    }

    async fn ensure_tenant(&self, tenant: TenantId, name: &str) -> Result<(), StoreError> {
        projects::ensure_tenant(self, tenant, name).await
    }

    async fn create_project(
        &self,
        tenant: TenantId,
        project: NewProject,
    ) -> Result<Project, StoreError> {
        projects::create(self, tenant, project).await
    }

    async fn list_projects(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> Result<Page<Project>, StoreError> {
        projects::list(self, tenant, page).await
    }

    async fn get_project(&self, tenant: TenantId, id: ProjectId) -> Result<Project, StoreError> {
        projects::get(self, tenant, id).await
    }

    async fn update_project(
        &self,
        tenant: TenantId,
        id: ProjectId,
        patch: ProjectPatch,
    ) -> Result<Project, StoreError> {
        projects::update(self, tenant, id, patch).await
    }

    async fn delete_project(&self, tenant: TenantId, id: ProjectId) -> Result<(), StoreError> {
        projects::delete(self, tenant, id).await
    }

    async fn create_run(
        &self,
        tenant: TenantId,
        run: NewRun,
        max_attempts: i32,
    ) -> Result<CreateRunOutcome, StoreError> {
        runs::create(self, tenant, run, max_attempts).await
    }

    async fn get_run(&self, tenant: TenantId, id: RunId) -> Result<Run, StoreError> {
        runs::get(self, tenant, id).await
    }

    async fn list_runs(
        &self,
        tenant: TenantId,
        project: ProjectId,
        page: &PageRequest,
    ) -> Result<Page<Run>, StoreError> {
        runs::list(self, tenant, project, page).await
    }

    async fn cancel_run(&self, tenant: TenantId, id: RunId) -> Result<Run, StoreError> {
        runs::cancel(self, tenant, id).await
    }

    async fn retry_run(
        &self,
        tenant: TenantId,
        id: RunId,
        max_attempts: i32,
        lane: &Lane,
    ) -> Result<Run, StoreError> {
        runs::retry(self, tenant, id, max_attempts, lane).await
    }

    async fn list_events(
        &self,
        tenant: TenantId,
        id: RunId,
        after: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<RunEvent>, StoreError> {
        runs::list_events(self, tenant, id, after, limit).await
    }

    async fn latest_event_ids(&self, runs: &[RunId]) -> Result<Vec<(RunId, EventId)>, StoreError> {
        notify::latest_event_ids(&self.pool, runs).await
    }

    async fn list_evidence(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        evidence::list_evidence(self, tenant, id).await
    }

    async fn list_claims(&self, tenant: TenantId, id: RunId) -> Result<Vec<Claim>, StoreError> {
        evidence::list_claims(self, tenant, id).await
    }

    async fn list_artifacts(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<Vec<Artifact>, StoreError> {
        evidence::list_artifacts(self, tenant, id).await
    }

    async fn get_artifact(
        &self,
        tenant: TenantId,
        run: RunId,
        id: ArtifactId,
    ) -> Result<Artifact, StoreError> {
        evidence::get_artifact(self, tenant, run, id).await
    }

    async fn stage_outputs(
        &self,
        tenant: TenantId,
        id: RunId,
    ) -> Result<BTreeMap<Stage, serde_json::Value>, StoreError> {
        runs::get(self, tenant, id).await?;
        let mut conn = self.pool.acquire().await.map_err(rows::db_err)?;
        execution::load_outputs(&mut conn, id).await
    }

    async fn start_run(&self, lease: Lease, id: RunId) -> Result<RunStart, StoreError> {
        execution::start_run(self, lease, id).await
    }

    async fn begin_stage(
        &self,
        lease: Lease,
        id: RunId,
        stage: Stage,
    ) -> Result<StageGate, StoreError> {
        execution::begin_stage(self, lease, id, stage).await
    }

    async fn append_events(
        &self,
        lease: Lease,
        id: RunId,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        execution::append_events(self, lease, id, events).await
    }

    async fn finish_stage(
        &self,
        lease: Lease,
        id: RunId,
        stage: Stage,
        commit: StageCommit,
    ) -> Result<(), StoreError> {
        execution::finish_stage(self, lease, id, stage, commit).await
    }

    async fn finish_run(&self, lease: Lease, id: RunId, end: RunEnd) -> Result<Run, StoreError> {
        execution::finish_run(self, lease, id, end).await
    }

    async fn defer_run(
        &self,
        lease: Lease,
        id: RunId,
        run_after: chrono::DateTime<chrono::Utc>,
        reason: &str,
    ) -> Result<(), StoreError> {
        execution::defer_run(self, lease, id, run_after, reason).await
    }

    async fn embeddings_get(
        &self,
        model: &str,
        text_sha256: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<f32>>, StoreError> {
        embeddings::get(&self.pool, model, text_sha256).await
    }

    async fn embeddings_put(
        &self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<(), StoreError> {
        embeddings::put(&self.pool, model, vectors).await
    }
}

/// Lets the shared test support (written for the integration tests) name this crate.
#[cfg(test)]
extern crate self as researchops_store_postgres;

#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_and_redacted_in_both_spellings() {
        let secrets = secrets_of("postgres://user:p%40ss@db.internal:5432/ro?sslmode=require");
        assert_eq!(secrets, ["p%40ss", "p@ss"]);
        let message = redact("failed for p@ss and p%40ss".to_string(), &secrets);
        assert_eq!(message, "failed for *** and ***");
        assert!(secrets_of("postgres://user@host/db").is_empty());
        assert_eq!(
            secrets_of("postgres://host/db?sslmode=disable&password=hunter2"),
            ["hunter2"]
        );
    }

    /// A worker frozen inside a transaction (here: one holding its job's row lock, as during a
    /// stage commit) must not keep the rescuer away from the job for longer than the timeout, and
    /// its late commit must fail.
    #[tokio::test]
    async fn a_transaction_left_idle_past_the_timeout_releases_its_job_to_the_rescuer() {
        use researchops_core::{Lane, NewJob, Queue, TenantId};
        let options = PgOptions {
            idle_transaction_timeout: Duration::from_millis(1500),
            ..PgOptions::default()
        };
        let (store, _db) = crate::support::fresh_store(options).await;
        let job = NewJob::noop(TenantId::new(), Lane::default());
        store.enqueue(&[job]).await.unwrap();
        let claimed = store
            .claim(&Lane::default(), "frozen", 1, Duration::from_millis(200))
            .await
            .unwrap();
        let mut frozen = store.begin().await.unwrap();
        sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(claimed[0].lease.job_id.0)
            .execute(&mut *frozen)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            store.rescue_expired().await.unwrap(),
            0,
            "the lease has expired but the frozen transaction still holds the row"
        );
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert_eq!(store.rescue_expired().await.unwrap(), 1);
        assert!(
            frozen.commit().await.is_err(),
            "the frozen session was ended"
        );
        let again = store
            .claim(&Lane::default(), "rescuer", 1, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(again[0].lease.job_id, claimed[0].lease.job_id);
        assert_eq!(again[0].attempt, 2);
    }
}
