//! Behaviour only the PostgreSQL backend has: several processes ("nodes") on one database, wake-ups
//! through LISTEN/NOTIFY, concurrent claimers, secrets kept out of errors, schema-version refusal.

mod support;

use researchops_core::{
    CreateRunOutcome, JobOutcome, Lane, NewEvent, NewJob, NewProject, NewRun, Queue, RunId,
    RunOptions, Stage, Store, StoreError, TenantId,
};
use researchops_store_postgres::{PgOptions, PgStore, latest_migration};
use sqlx::{Connection, PgConnection};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const LEASE: Duration = Duration::from_secs(30);

async fn tenant_and_project(store: &PgStore) -> (TenantId, researchops_core::ProjectId) {
    let tenant = TenantId::new();
    store.ensure_tenant(tenant, "t").await.expect("tenant");
    let project = store
        .create_project(
            tenant,
            NewProject {
                name: "p".into(),
                description: None,
            },
        )
        .await
        .expect("project");
    (tenant, project.id)
}

async fn create_run(
    store: &PgStore,
    tenant: TenantId,
    project: researchops_core::ProjectId,
) -> RunId {
    let run = NewRun {
        project_id: project,
        question: "q".into(),
        sources: vec!["local".into()],
        options: RunOptions::default(),
        client_request_id: None,
        lane: Lane::default(),
    };
    match store.create_run(tenant, run, 3).await.expect("create run") {
        CreateRunOutcome::Created(id) => id,
        other => panic!("expected a new run, got {other:?}"),
    }
}

fn noop(tenant: TenantId) -> NewJob {
    NewJob::noop(tenant, Lane::default())
}

/// Waits until `expected` sessions LISTEN on the database (the stores' background tasks connect
/// asynchronously; a notification sent before that is, by design, lost).
async fn wait_for_listeners(url: &str, expected: i64) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_activity");
        if listening >= expected {
            break;
        }
        assert!(Instant::now() < deadline, "the LISTEN tasks never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = conn.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_one_node_wakes_streams_and_workers_on_another() {
    let db = support::fresh_database().await;
    let a = PgStore::connect(&db.url, PgOptions::default())
        .await
        .expect("node a");
    let b = PgStore::connect(&db.url, PgOptions::default())
        .await
        .expect("node b");
    wait_for_listeners(&db.url, 2).await;
    assert_eq!(b.backend(), "postgres");
    b.ping().await.expect("ping");

    // An event committed through A reaches a watcher of the run on B's hub (B runs no fallback poller:
    // only LISTEN can carry it).
    let (tenant, project) = tenant_and_project(&a).await;
    let run = create_run(&a, tenant, project).await;
    let created = a
        .list_events(tenant, run, None, 10)
        .await
        .expect("events")
        .last()
        .expect("an event")
        .id;
    let mut hints = b.events().watch(run);
    let mut other = b.events().watch(RunId::new());
    let started = Instant::now();
    a.cancel_run(tenant, run).await.expect("cancel");
    let last = a
        .list_events(tenant, run, None, 10)
        .await
        .expect("events")
        .last()
        .expect("an event")
        .id;
    assert!(last > created);
    let heard = tokio::time::timeout(Duration::from_secs(1), hints.wait_beyond(created))
        .await
        .expect("node b heard about the event within a second");
    assert_eq!(heard, last);
    assert_eq!(other.latest(), 0, "another run's watcher stays asleep");
    assert!(
        tokio::time::timeout(Duration::from_millis(1), other.wait_beyond(0))
            .await
            .is_err()
    );
    eprintln!("event hint crossed nodes in {:?}", started.elapsed());

    // A job enqueued through A wakes B's idle workers. Drain hints already pending first.
    while tokio::time::timeout(Duration::from_millis(100), b.wakeup().notified())
        .await
        .is_ok()
    {}
    let waiting = tokio::spawn({
        let b = b.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(1), b.wakeup().notified())
                .await
                .is_ok()
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.enqueue(&[noop(tenant)]).await.expect("enqueue");
    assert!(
        waiting.await.expect("join"),
        "node b's workers were not woken within a second"
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_on_separate_nodes_claim_every_job_exactly_once() {
    let db = support::fresh_database().await;
    let setup = PgStore::connect(&db.url, PgOptions::default())
        .await
        .expect("setup node");
    let tenants: Vec<TenantId> = (0..5).map(|_| TenantId::new()).collect();
    let jobs: Vec<NewJob> = (0..400).map(|i| noop(tenants[i % tenants.len()])).collect();
    let enqueued: HashSet<_> = setup
        .enqueue(&jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .collect();
    let started = Instant::now();
    let mut claimers = Vec::new();
    for worker in 0..4 {
        let url = db.url.clone();
        claimers.push(tokio::spawn(async move {
            let options = PgOptions {
                max_connections: 2,
                listen: false,
                ..PgOptions::default()
            };
            let node = PgStore::connect(&url, options).await.expect("claimer node");
            let mut claimed = Vec::new();
            loop {
                let batch = node
                    .claim(&Lane::default(), &format!("worker-{worker}"), 8, LEASE)
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    break;
                }
                assert!(batch.iter().all(|j| j.attempt == 1));
                let done: Vec<_> = batch
                    .iter()
                    .map(|j| (j.lease, JobOutcome::Completed))
                    .collect();
                assert_eq!(node.finish_jobs(&done).await.expect("finish"), 0);
                claimed.extend(batch.into_iter().map(|j| j.lease.job_id));
            }
            node.close().await;
            claimed
        }));
    }
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.expect("claimer"));
    }
    eprintln!("4 nodes drained 400 jobs in {:?}", started.elapsed());
    let unique: HashSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), 400, "every job is claimed exactly once");
    assert_eq!(unique, enqueued);
    let stats = setup.stats().await.expect("stats");
    assert_eq!((stats.queued, stats.running, stats.failed), (0, 0, 0));
    setup.close().await;
}

#[tokio::test]
async fn the_password_never_appears_in_a_connection_error() {
    let url = "postgres://u:secret-pw@127.0.0.1:1/db";
    let err = PgStore::connect(url, PgOptions::default())
        .await
        .expect_err("nothing listens on port 1");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("secret-pw"), "{shown}");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = PgStore::connect(
        "postgres://u:secret-pw@127.0.0.1:notaport/db",
        PgOptions::default(),
    )
    .await
    .expect_err("a malformed URL");
    assert!(!format!("{err} {err:?}").contains("secret-pw"), "{err:?}");
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_binary_is_refused() {
    let (store, db) = support::fresh_store(PgOptions::default()).await;
    store.close().await;
    let mut conn = PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'future', true, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .expect("insert a future migration");
    let _ = conn.close().await;
    let err = PgStore::connect(&db.url, PgOptions::default())
        .await
        .expect_err("must refuse");
    match err {
        StoreError::SchemaTooNew { found, supported } => {
            assert_eq!((found, supported), (99999, latest_migration()));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_following_the_log_never_skips_an_event_committed_concurrently() {
    let (store, _db) = support::fresh_store(PgOptions::default()).await;
    let store = Arc::new(store);
    let (tenant, project) = tenant_and_project(&store).await;
    let run = create_run(&store, tenant, project).await;
    let job = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    store.start_run(job.lease, run).await.expect("start");
    // A second job for the same run (as a duplicate enqueue would make): its writers are fenced on
    // a different job row, so only the run row lock orders their events against the first job's.
    let second = NewJob::for_run(tenant, run, 3, Lane::default());
    store.enqueue(&[second]).await.expect("enqueue");
    let other = store
        .claim(&Lane::default(), "w", 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    let leases = [job.lease, other.lease];
    // Four writers append concurrently under the two leases while a reader tails the log by cursor.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            let lease = leases[w % 2];
            tokio::spawn(async move {
                for i in 0..50 {
                    let event = NewEvent::progress(Stage::Retrieve, i, 50, format!("writer {w}"));
                    store
                        .append_events(lease, run, &[event])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let store = store.clone();
        let done = done.clone();
        async move {
            let mut seen = Vec::new();
            let mut after = None;
            let deadline = Instant::now() + Duration::from_secs(30);
            // Until the writers are done and the log has nothing more after the cursor.
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store
                    .list_events(tenant, run, after, 7)
                    .await
                    .expect("list");
                if page.is_empty() && finished {
                    break seen;
                }
                assert!(
                    Instant::now() < deadline,
                    "the reader stalled at {}",
                    seen.len()
                );
                if let Some(last) = page.last() {
                    after = Some(last.id);
                }
                seen.extend(page.into_iter().map(|e| e.id));
            }
        }
    });
    for writer in writers {
        writer.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    let all: Vec<_> = store
        .list_events(tenant, run, None, 1000)
        .await
        .expect("all")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all.len(), 203);
    assert_eq!(seen, all, "the tailing reader saw every event, in order");
}

/// The backend pids of the sessions LISTENing on the database.
async fn listener_pids(conn: &mut PgConnection) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(conn)
    .await
    .expect("pg_stat_activity")
}

/// Polls until `done` holds for the listener pids, for at most 10 s.
async fn until_listeners(conn: &mut PgConnection, what: &str, done: impl Fn(&[i32]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&listener_pids(conn).await) {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_task_reconnects_after_losing_its_connection_and_stops_with_the_store() {
    let db = support::fresh_database().await;
    let quiet = PgOptions {
        listen: false,
        ..PgOptions::default()
    };
    let a = PgStore::connect(&db.url, quiet).await.expect("node a");
    let b = PgStore::connect(&db.url, PgOptions::default())
        .await
        .expect("node b");
    let mut admin = PgConnection::connect(&db.url).await.expect("connect");
    until_listeners(&mut admin, "node b listens", |p| p.len() == 1).await;
    let old = listener_pids(&mut admin).await[0];
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(old)
        .fetch_one(&mut admin)
        .await
        .expect("terminate");
    assert!(killed);
    until_listeners(&mut admin, "node b listens again", |p| {
        p.len() == 1 && p[0] != old
    })
    .await;
    while tokio::time::timeout(Duration::from_millis(100), b.wakeup().notified())
        .await
        .is_ok()
    {}
    let waiting = tokio::spawn({
        let b = b.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(1), b.wakeup().notified())
                .await
                .is_ok()
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.enqueue(&[noop(TenantId::new())]).await.expect("enqueue");
    assert!(
        waiting.await.expect("join"),
        "the reconnected listener did not pass the wake-up on"
    );
    // Dropping the last handle of the store ends its LISTEN session.
    drop(b);
    until_listeners(
        &mut admin,
        "the dropped store stops listening",
        <[i32]>::is_empty,
    )
    .await;
    a.close().await;
    let _ = admin.close().await;
}

#[tokio::test]
async fn tls_connections_work_when_the_url_requires_them() {
    let db = support::fresh_database().await;
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}sslmode=require", db.url);
    let store = PgStore::connect(
        &url,
        PgOptions {
            max_connections: 2,
            listen: false,
            ..PgOptions::default()
        },
    )
    .await
    .expect("connect over TLS");
    store.ping().await.expect("ping over TLS");
    let mut conn = PgConnection::connect(&url)
        .await
        .expect("direct TLS connection");
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .expect("pg_stat_ssl");
    assert!(encrypted, "the session is encrypted");
    conn.close().await.expect("close");
    store.close().await;
}

#[tokio::test]
async fn snapshots_taken_before_0003_get_their_bytes_as_their_text_blob() {
    let db = support::fresh_database().await;
    let mut conn = PgConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql(include_str!("../migrations/0001_spine.sql"))
        .execute(&mut conn)
        .await
        .expect("0001 applies");
    // Only the snapshot row matters here: skip its parents by not firing foreign-key triggers.
    sqlx::raw_sql(
        "SET session_replication_role = replica; \
         INSERT INTO snapshots (id, tenant_id, source_id, sha256, size_bytes, mime_type, retrieved_at) \
         VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'ab', 42, 'text/plain', now()); \
         SET session_replication_role = DEFAULT;",
    )
    .execute(&mut conn)
    .await
    .expect("an old snapshot row");
    sqlx::raw_sql(include_str!("../migrations/0003_snapshot_text.sql"))
        .execute(&mut conn)
        .await
        .expect("0003 applies");
    let (text_sha256, text_size_bytes): (String, i64) =
        sqlx::query_as("SELECT text_sha256, text_size_bytes FROM snapshots")
            .fetch_one(&mut conn)
            .await
            .expect("the row");
    assert_eq!((text_sha256.as_str(), text_size_bytes), ("ab", 42));
    let nullable: Vec<(String,)> = sqlx::query_as(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_name = 'snapshots' AND column_name LIKE 'text_%' AND is_nullable = 'YES'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns");
    assert!(
        nullable.is_empty(),
        "the text columns are NOT NULL: {nullable:?}"
    );
    let _ = conn.close().await;
}
