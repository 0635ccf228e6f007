//! A connection's watchdog state: the phase it is in ([`Phase`]: head, idle or busy), the write-stall
//! clock, and the wrappers that keep them current — [`WatchedIo`] around the socket (bytes arriving,
//! writes stalling or going through), [`InFlight`] and [`GuardedBody`] around each request and its
//! response. [`super::serve_connection`] sleeps until [`Activity::deadline`] and closes the connection
//! when [`Activity::expired`] says so.

use super::EdgeConfig;
use axum::body::{Body, HttpBody};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

pub(super) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// Where a connection is, for its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the rest of a request's headers since `since` (the accept, or the request's first
    /// byte).
    Head { since: Instant },
    /// No request in flight and no byte of a next one since `since`.
    Idle { since: Instant },
    /// `requests` are in flight (headers received, response not yet fully written).
    Busy { requests: usize },
}

/// A connection's phase, shared by its I/O, its service and its watchdog (all on the connection's
/// task; the lock is never contended).
pub(super) struct Activity {
    phase: Mutex<Phase>,
    /// Since when a write has waited for the client to take bytes (its buffers full), if it has.
    write_stalled: Mutex<Option<Instant>>,
    /// Whether `write_stalled` is set: lets every successful write skip the lock.
    stalled: AtomicBool,
    /// Wakes the watchdog when a deadline may have moved earlier.
    pub(super) changed: Notify,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
            write_stalled: Mutex::new(None),
            stalled: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    pub(super) fn write_stalled(&self) -> MutexGuard<'_, Option<Instant>> {
        self.write_stalled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A write found the socket full: the stall clock starts unless it runs already.
    pub(super) fn on_write_blocked(&self) {
        if self.stalled.load(Ordering::Relaxed) {
            return;
        }
        *self.write_stalled() = Some(Instant::now());
        self.stalled.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// A write went through: no stall.
    pub(super) fn on_write_progress(&self) {
        if self.stalled.swap(false, Ordering::Relaxed) {
            *self.write_stalled() = None;
        }
    }

    pub(super) fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes arrived: on an idle connection, a next request has begun.
    pub(super) fn on_bytes(&self) {
        let mut phase = self.phase();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Head {
                since: Instant::now(),
            };
            drop(phase);
            self.changed.notify_one();
        }
    }

    pub(super) fn begin_request(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            Phase::Head { .. } | Phase::Idle { .. } => Phase::Busy { requests: 1 },
        };
    }

    pub(super) fn end_request(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            _ => Phase::Idle {
                since: Instant::now(),
            },
        };
        drop(phase);
        self.changed.notify_one();
    }

    /// When the connection must be closed unless something happens first: the phase's deadline
    /// (none while busy), or a write stall's, whichever comes first.
    pub(super) fn deadline(&self, edge: &EdgeConfig) -> Option<Instant> {
        let phase = match *self.phase() {
            Phase::Head { since } => Some(since + edge.header_read_timeout),
            Phase::Idle { since } => Some(since + edge.idle_timeout),
            Phase::Busy { .. } => None,
        };
        let stall = self.write_stalled().map(|since| since + edge.write_timeout);
        match (phase, stall) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Why the connection must be closed at `now`, if it must.
    pub(super) fn expired(&self, edge: &EdgeConfig, now: Instant) -> Option<&'static str> {
        if self
            .write_stalled()
            .is_some_and(|since| now >= since + edge.write_timeout)
        {
            return Some("write timeout");
        }
        match *self.phase() {
            Phase::Head { since } if now >= since + edge.header_read_timeout => {
                Some("header read timeout")
            }
            Phase::Idle { since } if now >= since + edge.idle_timeout => Some("idle timeout"),
            _ => None,
        }
    }
}

/// A request in flight, from its complete headers until its response body is dropped (fully written,
/// or the connection ended).
pub(super) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn begin(activity: Arc<Activity>) -> Self {
        activity.begin_request();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// A response body that keeps its request in flight.
pub(super) struct GuardedBody {
    pub(super) inner: Body,
    pub(super) _in_flight: InFlight,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling the watchdog when bytes arrive and when writes stall or go through.
pub(super) struct WatchedIo {
    pub(super) inner: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_bytes();
        }
        polled
    }
}

impl WatchedIo {
    fn note_write(&self, pending: bool) {
        if pending {
            self.activity.on_write_blocked();
        } else {
            self.activity.on_write_progress();
        }
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_gives_head_idle_and_busy_their_own_deadlines() {
        let edge = EdgeConfig {
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(7),
            max_connections: 1,
        };
        let activity = Activity::new();
        let accepted = match *activity.phase() {
            Phase::Head { since } => since,
            other => panic!("a new connection waits for headers, not {other:?}"),
        };
        assert_eq!(
            activity.deadline(&edge),
            Some(accepted + edge.header_read_timeout)
        );
        assert_eq!(
            activity.expired(&edge, accepted + Duration::from_secs(2)),
            Some("header read timeout")
        );
        activity.begin_request();
        activity.begin_request();
        assert_eq!(activity.deadline(&edge), None);
        activity.end_request();
        assert_eq!(
            activity.deadline(&edge),
            None,
            "one request is still in flight"
        );
        assert_eq!(activity.expired(&edge, far_future()), None);
        activity.end_request();
        let Phase::Idle { since } = *activity.phase() else {
            panic!("idle after the last response")
        };
        assert_eq!(activity.deadline(&edge), Some(since + edge.idle_timeout));
        assert_eq!(
            activity.expired(&edge, since + edge.idle_timeout),
            Some("idle timeout")
        );
        activity.on_bytes();
        assert!(matches!(*activity.phase(), Phase::Head { .. }));

        // A busy connection whose writes stall gets the stall's deadline; progress lifts it.
        activity.begin_request();
        activity.on_write_blocked();
        let stalled = activity.write_stalled().expect("stalled");
        activity.on_write_blocked();
        assert_eq!(
            *activity.write_stalled(),
            Some(stalled),
            "the clock runs from the first stall"
        );
        assert_eq!(activity.deadline(&edge), Some(stalled + edge.write_timeout));
        assert_eq!(
            activity.expired(&edge, stalled + edge.write_timeout),
            Some("write timeout")
        );
        activity.on_write_progress();
        assert_eq!(activity.deadline(&edge), None);
        assert_eq!(activity.expired(&edge, far_future()), None);
    }
}
