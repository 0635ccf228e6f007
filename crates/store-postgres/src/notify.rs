//! Wake-ups across processes: `pg_notify` inside the committing transaction, local publication after
//! commit, and the LISTEN task that republishes every node's notifications on this node's hubs.
//!
//! Hints are never the source of truth (readers re-read the store and poll slowly as a fallback), so
//! this module may lose or duplicate them — a node hears its own notifications too — and it never
//! blocks a commit on anything but the `pg_notify` calls themselves. Payloads are coalesced: one
//! `researchops_events` notification per run touched by a transaction (`<run_id>:<last_event_id>`),
//! one `researchops_jobs` notification per transaction that made jobs due. The event hub's fallback
//! query (newest event per watched run) lives here too: it repairs whatever hints were lost.

use crate::rows::db_err;
use researchops_core::{EventHub, EventId, EventNotice, JobWakeup, RunId, StoreError};
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPoolOptions};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Channel of run-event hints; payload `<run_id>:<last_event_id>`.
pub(crate) const EVENTS_CHANNEL: &str = "researchops_events";
/// Channel of "jobs became due" hints; empty payload.
pub(crate) const JOBS_CHANNEL: &str = "researchops_jobs";

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What one transaction will announce: the newest event per run, and whether jobs became due.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    events: BTreeMap<RunId, EventId>,
    jobs: bool,
}

impl Hints {
    /// Hints carrying one event notice.
    pub(crate) fn with_event(notice: EventNotice) -> Self {
        let mut hints = Self::default();
        hints.event(notice);
        hints
    }

    /// Records that the run has events up to `notice.last_event_id`.
    pub(crate) fn event(&mut self, notice: EventNotice) {
        let last = self.events.entry(notice.run_id).or_default();
        *last = (*last).max(notice.last_event_id);
    }

    /// Records an optional notice.
    pub(crate) fn maybe_event(&mut self, notice: Option<EventNotice>) {
        if let Some(n) = notice {
            self.event(n);
        }
    }

    /// Records that jobs became due.
    pub(crate) fn jobs(&mut self) {
        self.jobs = true;
    }

    /// Queues the notifications in the caller's transaction (PostgreSQL delivers them on commit,
    /// and drops them on rollback). One statement, whatever the number of runs.
    pub(crate) async fn send(&self, conn: &mut PgConnection) -> Result<(), StoreError> {
        let mut channels = Vec::with_capacity(self.events.len() + 1);
        let mut payloads = Vec::with_capacity(self.events.len() + 1);
        for (run, last) in &self.events {
            channels.push(EVENTS_CHANNEL);
            payloads.push(format!("{run}:{last}"));
        }
        if self.jobs {
            channels.push(JOBS_CHANNEL);
            payloads.push(String::new());
        }
        if channels.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n (c, p)")
            .bind(channels)
            .bind(payloads)
            .execute(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Publishes on this node's hubs (after commit).
    pub(crate) fn publish(&self, hub: &EventHub, wakeup: &JobWakeup) {
        for (run, last) in &self.events {
            hub.publish(EventNotice {
                run_id: *run,
                last_event_id: *last,
            });
        }
        if self.jobs {
            wakeup.notify();
        }
    }
}

/// The event hub's fallback query: `(run, newest event id)` for each listed run that has events, in
/// one statement (one index probe per run). Internal and not tenant-scoped (see
/// `Store::latest_event_ids`): it answers only an event counter for run ids the hub's own watchers
/// registered.
pub(crate) async fn latest_event_ids(
    pool: &sqlx::PgPool,
    runs: &[RunId],
) -> Result<Vec<(RunId, EventId)>, StoreError> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<uuid::Uuid> = runs.iter().map(|r| r.0).collect();
    let rows: Vec<(uuid::Uuid, Option<EventId>)> = sqlx::query_as(
        "SELECT w.id, (SELECT max(e.id) FROM run_events e WHERE e.run_id = w.id) \
         FROM unnest($1::uuid[]) AS w (id)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .filter_map(|(run, last)| Some((RunId(run), last?)))
        .collect())
}

/// Parses an events payload `<run_id>:<last_event_id>`.
fn parse_event_payload(payload: &str) -> Option<EventNotice> {
    let (run, last) = payload.split_once(':')?;
    Some(EventNotice {
        run_id: run.parse().ok()?,
        last_event_id: last.parse().ok()?,
    })
}

/// Starts the LISTEN task. It holds one connection of its own (outside the store's pool), republishes
/// every notification on `hub` / `wakeup`, reconnects with exponential backoff after a failure, and
/// ends when `stop` is cancelled.
pub(crate) fn spawn_listener(
    options: PgConnectOptions,
    hub: EventHub,
    wakeup: JobWakeup,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        let mut backoff = MIN_BACKOFF;
        loop {
            let outcome = tokio::select! {
                () = stop.cancelled() => break,
                outcome = listen(&pool, &hub, &wakeup, &mut backoff) => outcome,
            };
            if let Err(e) = outcome {
                tracing::warn!(
                    error = %e,
                    retry_in_ms = backoff.as_millis() as u64,
                    "PostgreSQL LISTEN connection failed; wake-ups from other nodes fall back to polling until it is back"
                );
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        pool.close().await;
    })
}

/// One listening session: runs until the connection fails in a way the listener cannot repair.
async fn listen(
    pool: &sqlx::PgPool,
    hub: &EventHub,
    wakeup: &JobWakeup,
    backoff: &mut Duration,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([EVENTS_CHANNEL, JOBS_CHANNEL]).await?;
    *backoff = MIN_BACKOFF;
    tracing::debug!("listening for PostgreSQL notifications");
    // Anything announced while nobody listened is lost: let idle workers look once.
    wakeup.notify();
    loop {
        match listener.try_recv().await? {
            Some(notification) => dispatch(&notification, hub, wakeup),
            // The connection dropped and was re-established: same as a fresh start.
            None => wakeup.notify(),
        }
    }
}

fn dispatch(notification: &PgNotification, hub: &EventHub, wakeup: &JobWakeup) {
    match notification.channel() {
        EVENTS_CHANNEL => match parse_event_payload(notification.payload()) {
            Some(notice) => hub.publish(notice),
            None => tracing::debug!(
                payload = notification.payload(),
                "ignored a malformed event notification"
            ),
        },
        JOBS_CHANNEL => wakeup.notify(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_payloads_parse_and_garbage_is_ignored() {
        let run = RunId::new();
        let notice = parse_event_payload(&format!("{run}:42")).expect("valid payload");
        assert_eq!((notice.run_id, notice.last_event_id), (run, 42));
        assert!(parse_event_payload("nonsense").is_none());
        assert!(parse_event_payload(&format!("{run}:x")).is_none());
    }

    #[test]
    fn hints_keep_the_newest_event_per_run() {
        let run = RunId::new();
        let mut hints = Hints::default();
        for id in [3, 9, 5] {
            hints.event(EventNotice {
                run_id: run,
                last_event_id: id,
            });
        }
        assert_eq!(hints.events.get(&run), Some(&9));
    }
}
