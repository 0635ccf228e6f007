//! The connection edge: the accept loop that serves the router over HTTP/1.1, and the limits that keep
//! slow, idle or too many clients from holding a node's connections.
//!
//! - **Header-read timeout**: a connection's first request must send its complete headers within
//!   [`EdgeConfig::header_read_timeout`] of the accept; a later request within that time of its first
//!   byte. Otherwise the connection is closed without an answer (there is no request to answer yet).
//! - **Idle timeout**: a connection with no request in flight and no byte of a next request is closed
//!   after [`EdgeConfig::idle_timeout`]. A request is in flight from its complete headers until its
//!   response body is fully written, so an open SSE stream keeps its connection, however quiet.
//! - **Write-stall timeout**: a connection whose socket accepts no byte of a response for
//!   [`EdgeConfig::write_timeout`] (the client stopped reading, its buffers are full) is closed, SSE
//!   streams included. A slow reader that keeps taking bytes is never cut: only a stall counts.
//! - **Body-read timeout and the announced-length `413`**: per request, inside the router (see
//!   [`crate::body_limit`]), so their answers are problem documents with the request id.
//! - **Connection cap**: at most [`EdgeConfig::max_connections`] connections are served at once. Beyond
//!   that, a connection is still accepted (so it does not wait in the backlog) and answered
//!   `503` + `Retry-After` with a problem body, then closed. That answer is written with a short time
//!   limit, and at most [`REFUSAL_SLOTS`] run at once (a connection beyond that is closed unanswered),
//!   so the refusal path cannot itself be used to hold resources.
//! - **Lingering close**: when hyper is done with a connection (the client closed it, or an answer
//!   said `connection: close`, e.g. a `413` or `408` with the body unread), the sending side is shut
//!   and what the client still sends is read and discarded for up to a second ([`linger`]), so the
//!   close does not reset the connection under a client still writing its body before it reads.
//!   Connections the watchdog closes (slowloris, idle) and those closed by a shutdown are dropped
//!   at once.
//!
//! hyper's own `header_read_timeout` is not used: its timer also runs while a keep-alive connection
//! waits for its next request, so it would cap the idle time at the header time. Here one watchdog per
//! connection tracks the connection's phase and write stalls (module `watchdog`, [`Activity`]) and owns
//! every deadline.
//!
//! Graceful shutdown is axum's: when `shutdown` fires the listener closes, idle connections close at
//! once, requests in flight finish (SSE streams end on the same token), and [`serve`] returns when every
//! connection has ended. Accepted sockets get `TCP_NODELAY` (small SSE writes must not wait for the
//! peer's delayed ACK).

mod watchdog;

use crate::error::{PROBLEM_JSON, Problem};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use researchops_core::ErrorCode;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use watchdog::{Activity, GuardedBody, InFlight, WatchedIo, far_future};

/// Refusals (`503` answers to connections over the cap) written at once; beyond, connections over the
/// cap are closed without an answer.
pub const REFUSAL_SLOTS: usize = 64;

/// Time allowed to write a refusal.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Time a closing connection is read from (and the bytes discarded) after its last answer, so that
/// the client's unread request does not turn the close into a reset that destroys the answer in
/// flight (see [`linger`]).
const LINGER: Duration = Duration::from_secs(1);

/// Most bytes a closing connection reads and discards (see [`linger`]).
const LINGER_MAX_BYTES: usize = 32 * 1024 * 1024;

/// `Retry-After` of a refusal, in seconds.
const REFUSAL_RETRY_AFTER_SECONDS: u32 = 1;

/// Upper bound of the default connection cap.
pub const DEFAULT_MAX_CONNECTIONS: usize = 20_000;

/// File descriptors the default cap leaves for everything else (database, blobs, indexes, refusals).
const FD_RESERVE: u64 = 512;

/// The connection limits of [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct EdgeConfig {
    /// Time to receive a request's complete headers: from the accept for a connection's first request,
    /// from its first byte for a later one.
    pub header_read_timeout: Duration,
    /// Time a connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// Time a response write may wait for the client to take a byte (its buffers full) before the
    /// connection is closed.
    pub write_timeout: Duration,
    /// Connections served at once; the next ones are answered `503` and closed.
    pub max_connections: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            write_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
        }
    }
}

/// The default connection cap: the open-file limit minus a reserve for everything else, at most
/// [`DEFAULT_MAX_CONNECTIONS`] (that bound where the limit cannot be read).
pub fn default_max_connections() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| open_files_soft_limit(&limits))
        .map_or(DEFAULT_MAX_CONNECTIONS, max_connections_for_fd_limit)
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text (`u64::MAX` when unlimited).
fn open_files_soft_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// The cap for a soft open-file limit.
fn max_connections_for_fd_limit(soft: u64) -> usize {
    let reserve = FD_RESERVE.min(soft / 2);
    let cap = soft.saturating_sub(reserve).max(1);
    usize::try_from(cap)
        .unwrap_or(usize::MAX)
        .min(DEFAULT_MAX_CONNECTIONS)
}

/// Serves `router` on `listener` until `shutdown` fires and every connection has ended (see the module
/// documentation).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    edge: EdgeConfig,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(edge.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(REFUSAL_SLOTS));
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Most likely out of file descriptors: back off instead of spinning.
                tracing::error!(error = %e, "accept failed");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                connections.spawn(serve_connection(
                    tcp,
                    peer,
                    router.clone(),
                    edge,
                    shutdown.clone(),
                    slot,
                ));
            }
            Err(_) => match refusals.clone().try_acquire_owned() {
                Ok(refusal) => {
                    connections.spawn(refuse(tcp, edge.max_connections, refusal));
                }
                Err(_) => tracing::debug!(%peer, "over the connection cap; closed unanswered"),
            },
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Errors of one connection that did not make it through `accept`; the listener is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection under its watchdog; the slot is released when it ends.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    edge: EdgeConfig,
    shutdown: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(WatchedIo {
        inner: tcp,
        activity: activity.clone(),
    });
    let on_request = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let in_flight = InFlight::begin(on_request.clone());
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        // Boxed so the connection is `Unpin` and can end without hyper's shutdown (see below).
        Box::pin(async move {
            let response = match tower::Service::call(&mut router, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|inner| GuardedBody {
                inner,
                _in_flight: in_flight,
            }))
        })
    });
    let mut conn = http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut draining = false;
    loop {
        let changed = activity.changed.notified();
        let deadline = activity.deadline(&edge);
        tokio::select! {
            result = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                // hyper is done with the connection (the client closed it, or a response said
                // `connection: close`, e.g. a 413 or 408 with the body unread). Shutting down, the
                // idle keep-alive connections hyper closes are dropped at once.
                if !draining {
                    linger(conn.into_parts().io.into_inner().inner).await;
                }
                return;
            }
            () = changed => {}
            () = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                if let Some(reason) = activity.expired(&edge, Instant::now()) {
                    tracing::debug!(%peer, reason, "closing connection");
                    return;
                }
            }
            () = shutdown.cancelled(), if !draining => {
                std::pin::Pin::new(&mut conn).graceful_shutdown();
                draining = true;
            }
        }
    }
}

/// The whole answer to a connection over the cap.
fn refusal_response(max_connections: usize) -> Vec<u8> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut problem = Problem::from_code(
        ErrorCode::NotReady,
        format!(
            "This server is serving its limit of {max_connections} connections; retry shortly."
        ),
    );
    problem.request_id = Some(request_id.clone());
    let body = problem.to_body();
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {PROBLEM_JSON}\r\n\
         content-length: {}\r\nretry-after: {REFUSAL_RETRY_AFTER_SECONDS}\r\n\
         x-request-id: {request_id}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// Closes a connection whose last answer is written: shuts its sending side (the client reads the
/// end of the answer), then reads and discards what the client still sends, for at most
/// [`LINGER`] and [`LINGER_MAX_BYTES`]. Closing with unread bytes would make the kernel reset
/// the connection, and a client still sending a refused body (a `413`, a `408`) would get the reset
/// instead of the answer. A client that closed already ends it at once.
async fn linger(mut tcp: TcpStream) {
    if tcp.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = vec![0_u8; 64 * 1024];
        let mut discarded = 0;
        while discarded < LINGER_MAX_BYTES {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => discarded += n,
            }
        }
        Ok::<_, io::Error>(())
    })
    .await;
}

/// Answers a connection over the cap with `503` and closes it, within a short time limit.
async fn refuse(mut tcp: TcpStream, max_connections: usize, _refusal: OwnedSemaphorePermit) {
    let response = refusal_response(max_connections);
    let written = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        tcp.write_all(&response).await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    linger(tcp).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            1024                 1048576              files     \n";

    #[test]
    fn the_default_cap_leaves_descriptors_for_everything_else() {
        assert_eq!(open_files_soft_limit(LIMITS), Some(1024));
        assert_eq!(
            open_files_soft_limit("Max open files unlimited unlimited files"),
            Some(u64::MAX)
        );
        assert_eq!(open_files_soft_limit("nothing here"), None);
        assert_eq!(max_connections_for_fd_limit(1024), 512);
        assert_eq!(max_connections_for_fd_limit(100), 50);
        assert_eq!(
            max_connections_for_fd_limit(1_048_576),
            DEFAULT_MAX_CONNECTIONS
        );
        assert_eq!(
            max_connections_for_fd_limit(u64::MAX),
            DEFAULT_MAX_CONNECTIONS
        );
        assert_eq!(max_connections_for_fd_limit(0), 1);
    }

    #[test]
    fn the_refusal_is_a_complete_503_problem_that_closes() {
        let response = String::from_utf8(refusal_response(7)).expect("utf-8");
        let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(head.contains("\r\nretry-after: 1"));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(problem["status"], 503);
        assert!(problem["detail"].as_str().unwrap_or_default().contains('7'));
        assert!(head.contains(problem["request_id"].as_str().unwrap_or("missing")));
    }
}
