//! In-process fan-out of "something was committed" hints: new run events (for SSE streams) and new jobs
//! (to wake idle workers). Hints are never the source of truth — readers always re-read the store after
//! one — so a lost or lagged hint costs latency, never correctness.
//!
//! Event hints are kept **per run**: [`EventHub`] holds a registry `run → newest known event id` with
//! one entry per *watched* run, created by the first [`EventHub::watch`] of that run and removed when its
//! last [`EventWatch`] drops. Publishing touches only the published run's entry and wakes only its
//! watchers, and only when the id is newer than what they already know; a notice for an unwatched run
//! is dropped at once. A store publishes after each commit; on PostgreSQL a LISTEN task republishes other
//! nodes' commits; and one fallback poller per process ([`EventHub::refresh`], driven by the HTTP crate)
//! asks the store for the newest event of every watched run in one query, so a commit whose hint was
//! lost (another process on the same SQLite file, a LISTEN reconnect) still reaches its streams.

use crate::error::StoreError;
use crate::ids::{EventId, RunId};
use crate::ports::Store;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

/// "Run `run_id` has events up to `last_event_id`."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventNotice {
    /// The run.
    pub run_id: RunId,
    /// Its newest committed event.
    pub last_event_id: EventId,
}

/// One watched run: the newest event id heard of, and how many [`EventWatch`]es share it.
#[derive(Debug)]
struct Watched {
    newest: watch::Sender<EventId>,
    watchers: usize,
}

#[derive(Debug, Default)]
struct Registry {
    runs: Mutex<HashMap<RunId, Watched>>,
    /// Signalled when the registry goes from empty to non-empty (wakes an idle fallback poller).
    first_watch: Notify,
    /// Whether a fallback poller was started for this hub.
    poller: AtomicBool,
    /// Watchers inside [`EventWatch::wait_beyond`] right now.
    parked: AtomicUsize,
}

impl Registry {
    /// The map; a poisoned lock is still a consistent map (every critical section is panic-free).
    fn runs(&self) -> MutexGuard<'_, HashMap<RunId, Watched>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Per-run registry of event hints (see the module documentation). Cheap to clone: clones share it.
#[derive(Clone, Debug, Default)]
pub struct EventHub {
    registry: Arc<Registry>,
}

impl EventHub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces a commit: wakes the run's watchers if `notice.last_event_id` is newer than what they
    /// know. A no-op for a run nobody on this node watches.
    pub fn publish(&self, notice: EventNotice) {
        let runs = self.registry.runs();
        if let Some(watched) = runs.get(&notice.run_id) {
            watched.newest.send_if_modified(|newest| {
                let newer = notice.last_event_id > *newest;
                if newer {
                    *newest = notice.last_event_id;
                }
                newer
            });
        }
    }

    /// Starts watching a run; watch *before* reading the store so no commit falls in between.
    pub fn watch(&self, run_id: RunId) -> EventWatch {
        let mut runs = self.registry.runs();
        let was_empty = runs.is_empty();
        let receiver = match runs.entry(run_id) {
            Entry::Occupied(mut entry) => {
                let watched = entry.get_mut();
                watched.watchers += 1;
                watched.newest.subscribe()
            }
            Entry::Vacant(entry) => {
                let (newest, receiver) = watch::channel(0);
                entry.insert(Watched {
                    newest,
                    watchers: 1,
                });
                receiver
            }
        };
        drop(runs);
        if was_empty {
            self.registry.first_watch.notify_one();
        }
        EventWatch {
            registry: Arc::clone(&self.registry),
            run_id,
            receiver,
        }
    }

    /// Open watches on this node (SSE connections, CLI followers).
    pub fn watchers(&self) -> usize {
        self.registry.runs().values().map(|w| w.watchers).sum()
    }

    /// Watchers waiting for a hint right now (idle streams; a stream sending or reading is not
    /// counted). Tests use it to know a stream is live and parked before they commit.
    pub fn parked(&self) -> usize {
        self.registry.parked.load(Ordering::Acquire)
    }

    /// The runs watched on this node.
    pub fn watched_runs(&self) -> Vec<RunId> {
        self.registry.runs().keys().copied().collect()
    }

    /// Waits until at least one run is watched (returns at once if one is).
    pub async fn until_watched(&self) {
        loop {
            let notified = self.registry.first_watch.notified();
            if !self.registry.runs().is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// One fallback round: asks the store, in one query, for the newest event of every watched run
    /// and publishes what is newer than the hints heard so far. Returns how many runs were asked about.
    pub async fn refresh(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let runs = self.watched_runs();
        if runs.is_empty() {
            return Ok(0);
        }
        for (run_id, last_event_id) in store.latest_event_ids(&runs).await? {
            self.publish(EventNotice {
                run_id,
                last_event_id,
            });
        }
        Ok(runs.len())
    }

    /// `true` exactly once per hub (and its clones): whoever gets it runs the hub's fallback poller, so
    /// a process polls once however many streams or routers share the hub.
    pub fn claim_poller(&self) -> bool {
        !self.registry.poller.swap(true, Ordering::AcqRel)
    }
}

/// One watcher of one run's event hints; leaving the registry when dropped (the run's entry goes with
/// its last watcher).
#[derive(Debug)]
pub struct EventWatch {
    registry: Arc<Registry>,
    run_id: RunId,
    receiver: watch::Receiver<EventId>,
}

impl EventWatch {
    /// The run watched.
    pub fn run_id(&self) -> RunId {
        self.run_id
    }

    /// The newest event id this node has heard of for the run (0: none yet).
    pub fn latest(&self) -> EventId {
        *self.receiver.borrow()
    }

    /// Waits until a hint says the run has an event newer than `seen`, and returns that newest id.
    /// Returns at once if one already did. Pass the larger of the reader's cursor and the last id this
    /// returned, so a hint that promised more than the store then showed is not waited on twice.
    pub async fn wait_beyond(&mut self, seen: EventId) -> EventId {
        let _parked = Parked::enter(&self.registry.parked);
        // Copy the id out at once: the borrow guard must not live across an await.
        let newest = self
            .receiver
            .wait_for(|newest| *newest > seen)
            .await
            .map(|newest| *newest);
        match newest {
            Ok(newest) => newest,
            // Unreachable while `self` holds the run's entry; never wake spuriously.
            Err(_) => std::future::pending().await,
        }
    }
}

impl Drop for EventWatch {
    fn drop(&mut self) {
        let mut runs = self.registry.runs();
        if let Entry::Occupied(mut entry) = runs.entry(self.run_id) {
            let watched = entry.get_mut();
            watched.watchers = watched.watchers.saturating_sub(1);
            if watched.watchers == 0 {
                entry.remove();
            }
        }
    }
}

/// Counts a watcher as parked for as long as it lives.
struct Parked<'a>(&'a AtomicUsize);

impl<'a> Parked<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn notice(run_id: RunId, last_event_id: EventId) -> EventNotice {
        EventNotice {
            run_id,
            last_event_id,
        }
    }

    /// Polls a future once: `Some` if it is ready now.
    fn ready_now<F: Future>(future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        }
    }

    #[test]
    fn publishing_for_one_run_never_wakes_a_watcher_of_another() {
        let hub = EventHub::new();
        let (a, b) = (RunId::new(), RunId::new());
        let mut watch_a = hub.watch(a);
        let mut watch_b = hub.watch(b);
        hub.publish(notice(a, 7));
        assert_eq!(ready_now(watch_a.wait_beyond(0)), Some(7));
        assert_eq!(ready_now(watch_b.wait_beyond(0)), None);
        assert_eq!(watch_b.latest(), 0);
        hub.publish(notice(b, 9));
        assert_eq!(ready_now(watch_b.wait_beyond(0)), Some(9));
        // What a watcher has already seen does not wake it again.
        assert_eq!(ready_now(watch_a.wait_beyond(7)), None);
    }

    #[test]
    fn a_stale_or_repeated_notice_wakes_nobody() {
        let hub = EventHub::new();
        let run = RunId::new();
        let mut watch = hub.watch(run);
        hub.publish(notice(run, 10));
        hub.publish(notice(run, 4));
        assert_eq!(watch.latest(), 10);
        assert_eq!(ready_now(watch.wait_beyond(10)), None);
    }

    #[tokio::test]
    async fn a_waiting_watcher_is_woken_by_its_runs_notice() {
        let hub = EventHub::new();
        let run = RunId::new();
        let mut watch = hub.watch(run);
        let waiter = tokio::spawn(async move { watch.wait_beyond(3).await });
        while hub.parked() == 0 {
            tokio::task::yield_now().await;
        }
        hub.publish(notice(RunId::new(), 100));
        hub.publish(notice(run, 3));
        assert_eq!(hub.parked(), 1);
        hub.publish(notice(run, 5));
        assert_eq!(waiter.await.expect("task"), 5);
        assert_eq!(hub.parked(), 0);
    }

    #[test]
    fn entries_live_exactly_as_long_as_their_watchers() {
        let hub = EventHub::new();
        let (a, b) = (RunId::new(), RunId::new());
        let first = hub.watch(a);
        let second = hub.watch(a);
        let other = hub.watch(b);
        assert_eq!(hub.watchers(), 3);
        let mut runs = hub.watched_runs();
        runs.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(runs, expected);
        hub.publish(notice(a, 5));
        drop(first);
        assert_eq!(hub.watched_runs().len(), 2);
        // A watcher joining a live entry sees what it already knows.
        let third = hub.watch(a);
        assert_eq!(third.latest(), 5);
        drop(second);
        drop(third);
        assert_eq!(hub.watched_runs(), vec![b]);
        drop(other);
        assert_eq!(hub.watchers(), 0);
        assert!(hub.watched_runs().is_empty());
        // Notices for unwatched runs leave nothing behind, and a new entry starts from nothing.
        hub.publish(notice(a, 6));
        assert!(hub.watched_runs().is_empty());
        assert_eq!(hub.watch(a).latest(), 0);
    }

    #[test]
    fn until_watched_waits_for_the_first_watcher() {
        let hub = EventHub::new();
        let mut waiting = Box::pin(hub.until_watched());
        assert!(ready_now(waiting.as_mut()).is_none());
        let watch = hub.watch(RunId::new());
        assert!(ready_now(waiting.as_mut()).is_some());
        assert!(ready_now(hub.until_watched()).is_some());
        drop(watch);
        assert!(ready_now(hub.until_watched()).is_none());
    }

    #[test]
    fn only_one_caller_claims_the_poller() {
        let hub = EventHub::new();
        let clone = hub.clone();
        assert!(hub.claim_poller());
        assert!(!clone.claim_poller());
        assert!(!hub.claim_poller());
    }
}
