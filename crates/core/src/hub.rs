//! In-process fan-out of "something was committed" hints: new run events (for SSE streams) and new jobs
//! (to wake idle workers). Hints are never the source of truth — readers always re-read the store after
//! one, and poll slowly as a fallback — so a lost or lagged hint costs latency, never correctness.
//! A store publishes after each commit; on PostgreSQL a LISTEN task republishes other nodes' commits.

use crate::ids::{EventId, RunId};
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};

/// "Run `run_id` has events up to `last_event_id`."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventNotice {
    /// The run.
    pub run_id: RunId,
    /// Its newest committed event.
    pub last_event_id: EventId,
}

/// Broadcasts [`EventNotice`]s to every subscribed stream.
#[derive(Clone, Debug)]
pub struct EventHub {
    sender: broadcast::Sender<EventNotice>,
}

impl EventHub {
    /// A hub whose subscribers may lag `capacity` notices before they are told to re-read.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        Self { sender }
    }

    /// Announces a commit (no-op without subscribers).
    pub fn publish(&self, notice: EventNotice) {
        let _ = self.sender.send(notice);
    }

    /// Subscribes; subscribe *before* reading the store so no commit falls in between.
    pub fn subscribe(&self) -> broadcast::Receiver<EventNotice> {
        self.sender.subscribe()
    }

    /// Current subscribers (SSE connections on this node).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new(4096)
    }
}

/// Wakes idle workers when jobs are enqueued.
#[derive(Clone, Debug, Default)]
pub struct JobWakeup {
    notify: Arc<Notify>,
}

impl JobWakeup {
    /// Hints that jobs may be available (coalesced: many hints before a wait count once).
    pub fn notify(&self) {
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Waits for a hint.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}
