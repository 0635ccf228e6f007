//! `GET /runs/{run_id}/events`: the run's event log as a JSON array, or — with
//! `Accept: text/event-stream` — as a live SSE stream that resumes after `Last-Event-ID` and ends with
//! `event: done` once the run is terminal and everything was sent.
//!
//! The stream never trusts the event hub for data: it watches its run *before* reading, re-reads the
//! store after every hint for that run, and decides the end by reading the run's status and then the
//! events once more, so an event committed with the terminal transition is never missed. It ends on a
//! store error (logged) and when the server shuts down.
//!
//! An idle stream costs no work but its keep-alive timer: it is parked on its run's entry in the
//! [`EventHub`](researchops_core::EventHub), which only that run's commits touch. The correctness
//! fallback for hints that never arrived is one poller per process ([`spawn_fallback_poll`]), which asks
//! the store for the newest event of every watched run in one query each [`FALLBACK_POLL`].

use crate::error::{ApiError, Problem};
use crate::extract::{PathId, QueryParams, wants_event_stream};
use crate::identity::Viewer;
use crate::state::AppState;
use crate::views;
use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use researchops_core::{ErrorCode, EventId, EventWatch, RunEvent, RunId, RunStatus, TenantId};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::Instant;

/// Events per JSON response unless `limit` says otherwise.
pub const DEFAULT_EVENT_LIMIT: u32 = 1000;
/// Most events per JSON response.
pub const MAX_EVENT_LIMIT: u32 = 5000;
/// Events per store read while streaming.
const STREAM_PAGE: u32 = 500;
/// How often the process's fallback poller asks the store about the watched runs.
pub const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// `?after_id=&limit=`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events with a larger id (SSE: used when `Last-Event-ID` is absent).
    #[param(value_type = Option<i64>)]
    pub after_id: Option<EventId>,
    /// At most this many events, 1–5000 (JSON only; default 1000); anything else is a 400.
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// The run's events, as JSON or as a server-sent event stream.
#[utoipa::path(
    get,
    path = "/runs/{run_id}/events",
    tag = "events",
    params(
        ("run_id" = uuid::Uuid, Path, description = "The run"),
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "SSE: resume after this event id"),
    ),
    responses(
        (status = 200, description = "JSON: the events in id order. SSE (`Accept: text/event-stream`): `run_event` \
            events with `id:` set, keep-alive comments, and a final `done` event with `{\"status\"}`",
            content(
                (Vec<RunEvent> = "application/json"),
                (String = "text/event-stream"),
            )),
        (status = 204, description = "SSE: the run is terminal and nothing is left to send"),
        (status = 400, description = "A malformed after_id, limit or Last-Event-ID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown run", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(tenant.id = %identity.tenant_id, run.id = %run_id), err(level = "debug"))]
pub async fn get_events(
    State(state): State<AppState>,
    Viewer(identity): Viewer,
    PathId(run_id): PathId<RunId>,
    QueryParams(query): QueryParams<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    crate::validation::check_limit(query.limit, MAX_EVENT_LIMIT)?;
    // Malformed input is a 400 in both modes, even where the value is not used (JSON).
    let resume_after = last_event_id(&headers)?;
    if wants_event_stream(&headers) {
        let cursor = match resume_after {
            Some(id) => id,
            None => query.after_id.unwrap_or(0),
        };
        return open_stream(state, identity.tenant_id, run_id, cursor).await;
    }
    let limit = query.limit.unwrap_or(DEFAULT_EVENT_LIMIT);
    let events =
        views::run_events(&state, identity.tenant_id, run_id, query.after_id, limit).await?;
    Ok(Json(events).into_response())
}

/// The `Last-Event-ID` header, if any; present but not an integer (empty included) is a 400.
fn last_event_id(headers: &HeaderMap) -> Result<Option<EventId>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or_default();
    text.parse::<EventId>().map(Some).map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            "`Last-Event-ID` must be an event id (an integer).",
        )
    })
}

/// Checks the run, answers 204 for a finished run with nothing new, else starts the stream.
async fn open_stream(
    state: AppState,
    tenant: TenantId,
    run_id: RunId,
    cursor: EventId,
) -> Result<Response, ApiError> {
    // Watch before the first read so no commit can fall between the read and the wait.
    let watch = state.store.events().watch(run_id);
    spawn_fallback_poll(&state);
    let run = state.store.get_run(tenant, run_id).await?;
    if run.status.is_terminal()
        && state
            .store
            .list_events(tenant, run_id, Some(cursor), 1)
            .await?
            .is_empty()
    {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    tracing::debug!(run.id = %run_id, cursor, "event stream opened");
    let stream = event_stream(state.clone(), tenant, run_id, cursor, watch);
    let sse = Sse::new(stream);
    let headers = [
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        ),
    ];
    Ok((headers, sse).into_response())
}

fn run_event(event: &RunEvent) -> Option<Event> {
    match serde_json::to_string(event) {
        Ok(data) => Some(
            Event::default()
                .id(event.id.to_string())
                .event("run_event")
                .data(data),
        ),
        Err(e) => {
            tracing::error!(error = %e, event.id = event.id, "cannot serialise a run event");
            None
        }
    }
}

fn done_event(status: RunStatus) -> Event {
    Event::default()
        .event("done")
        .data(serde_json::json!({ "status": status }).to_string())
}

/// The live stream: drain → check status → (terminal: drain once more, `done`) → wait → repeat.
fn event_stream(
    state: AppState,
    tenant: TenantId,
    run_id: RunId,
    mut cursor: EventId,
    mut watch: EventWatch,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    async_stream::stream! {
        let mut terminal: Option<RunStatus> = None;
        // The newest id a hint announced: a hint the store then did not bear out is not waited on again.
        let mut hinted: EventId = 0;
        let interval = state.config.sse_keepalive;
        let mut next_keepalive = Instant::now() + first_keepalive(interval);
        loop {
            // Send everything after the cursor.
            loop {
                if state.shutdown.is_cancelled() {
                    return;
                }
                let batch = match state.store.list_events(tenant, run_id, Some(cursor), STREAM_PAGE).await {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::error!(error = %e, run.id = %run_id, "event stream ended by a store error");
                        return;
                    }
                };
                let full = batch.len() >= STREAM_PAGE as usize;
                for event in &batch {
                    cursor = event.id;
                    match run_event(event) {
                        Some(sse) => yield Ok(sse),
                        None => return,
                    }
                }
                if !full {
                    break;
                }
            }
            // The status was terminal before that last read, so it included the final events.
            if let Some(status) = terminal {
                yield Ok(done_event(status));
                return;
            }
            match state.store.get_run(tenant, run_id).await {
                Ok(run) if run.status.is_terminal() => {
                    terminal = Some(run.status);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, run.id = %run_id, "event stream ended by a store error");
                    return;
                }
            }
            // Every status change commits an event, so a hint for this run is the only thing to wait for
            // (keep-alive comments in between). The wait and the timer live across keep-alives: an idle
            // stream costs one timer firing and one small write per interval, nothing else.
            {
                let hint = watch.wait_beyond(cursor.max(hinted));
                tokio::pin!(hint);
                let shutdown = state.shutdown.cancelled();
                tokio::pin!(shutdown);
                let timer = tokio::time::sleep_until(next_keepalive);
                tokio::pin!(timer);
                loop {
                    let keepalive = tokio::select! {
                        () = &mut shutdown => return,
                        newest = &mut hint => {
                            hinted = newest;
                            false
                        }
                        () = &mut timer => true,
                    };
                    if !keepalive {
                        break;
                    }
                    next_keepalive = Instant::now() + interval;
                    timer.as_mut().reset(next_keepalive);
                    yield Ok(Event::default().comment(""));
                }
            }
        }
    }
}

/// Starts this process's fallback poller unless it runs already (one per event hub, however many
/// streams): while any run is watched, it asks the store every [`FALLBACK_POLL`] for the newest event
/// of each watched run, in one query, and publishes what the hints missed. It ends on shutdown.
pub fn spawn_fallback_poll(state: &AppState) {
    let hub = state.store.events().clone();
    if !hub.claim_poller() {
        return;
    }
    let store = state.store.clone();
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let poll = async {
            loop {
                hub.until_watched().await;
                tokio::time::sleep(FALLBACK_POLL).await;
                if let Err(e) = hub.refresh(store.as_ref()).await {
                    tracing::warn!(error = %e, "event fallback poll failed; retrying");
                }
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = poll => {}
        }
    });
}

/// When a new stream sends its first keep-alive comment: a random point in the second half of the
/// interval, so the keep-alives of streams opened together (a reconnect storm, a dashboard of many
/// runs) spread over the interval instead of waking every stream in the same instant.
fn first_keepalive(interval: Duration) -> Duration {
    let fraction = (uuid::Uuid::new_v4().as_u128() % 1024) as f64 / 1024.0;
    interval.mul_f64(0.5 + fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_id_is_an_integer_or_absent() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_event_id(&headers).expect("absent"), None);
        headers.insert("last-event-id", HeaderValue::from_static(" 42 "));
        assert_eq!(last_event_id(&headers).expect("parsed"), Some(42));
        headers.insert("last-event-id", HeaderValue::from_static("abc"));
        assert!(last_event_id(&headers).is_err());
        headers.insert("last-event-id", HeaderValue::from_static(""));
        assert!(last_event_id(&headers).is_err());
    }

    #[test]
    fn first_keepalives_fall_in_the_second_half_of_the_interval_and_differ() {
        let interval = Duration::from_secs(15);
        let firsts: Vec<Duration> = (0..64).map(|_| first_keepalive(interval)).collect();
        assert!(firsts.iter().all(|d| *d >= interval / 2 && *d <= interval));
        let distinct: std::collections::HashSet<_> = firsts.iter().collect();
        assert!(distinct.len() > 16, "spread, not one instant: {distinct:?}");
    }
}
