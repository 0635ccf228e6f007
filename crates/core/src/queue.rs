//! The durable job queue's port: at-least-once delivery with leases, heartbeats and fencing.
//!
//! A claim hands out a fresh lease token per job; every later write for the job (heartbeat, stage commit,
//! completion) is conditional on it, so a worker whose lease expired and was rescued commits nothing.

use crate::error::StoreError;
use crate::ids::{JobId, RunId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;
use uuid::Uuid;

/// What a job does; registered in this one list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Execute a research run from its checkpoint.
    Run,
    /// Does nothing (queue benchmarks and tests).
    Noop,
}

impl JobKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Run => "run",
            JobKind::Noop => "noop",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<JobKind> {
        match s {
            "run" => Some(JobKind::Run),
            "noop" => Some(JobKind::Noop),
            _ => None,
        }
    }
}

/// The queue partition a job waits in. A claim takes jobs from one lane only, so processes that
/// share a database never execute each other's jobs: `serve` and `worker` claim from
/// [`Lane::default`] (`default`), `researchops research` from a private lane of its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane(String);

impl Lane {
    /// The lane of every job the API creates.
    pub const DEFAULT: &'static str = "default";
    /// The longest lane name.
    pub const MAX_LEN: usize = 64;

    /// A lane by name: 1–64 characters of `a-z`, `0-9`, `-`, `_`, `.`.
    pub fn new(name: &str) -> Result<Lane, String> {
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if valid {
            Ok(Lane(name.to_string()))
        } else {
            Err(format!(
                "invalid lane `{name}`: use 1-{} characters of a-z, 0-9, '-', '_', '.'",
                Self::MAX_LEN
            ))
        }
    }

    /// A fresh lane no other process uses: `<purpose>-<random>` (the purpose is cut to fit).
    pub fn private(purpose: &str) -> Lane {
        let purpose: String = purpose
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .take(Self::MAX_LEN - 33)
            .collect();
        Lane(format!("{purpose}-{}", Uuid::new_v4().simple()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Lane {
    fn default() -> Self {
        Lane(Self::DEFAULT.to_string())
    }
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Lane {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lane::new(s)
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Owner.
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: JobKind,
    /// The run it executes, for `Run` jobs.
    pub run_id: Option<RunId>,
    /// Kind-specific input.
    pub payload: serde_json::Value,
    /// Attempts before the job fails for good (at least 1 is used; see [`NewJob::attempt_limit`]).
    pub max_attempts: i32,
    /// The lane it waits in.
    pub lane: Lane,
}

impl NewJob {
    /// The job that executes a run (created with the run, or by a retry).
    pub fn for_run(tenant: TenantId, run: RunId, max_attempts: i32, lane: Lane) -> NewJob {
        NewJob {
            tenant_id: tenant,
            kind: JobKind::Run,
            run_id: Some(run),
            payload: serde_json::json!({}),
            max_attempts,
            lane,
        }
    }

    /// A job that does nothing, in `lane` (queue benchmarks and tests).
    pub fn noop(tenant: TenantId, lane: Lane) -> NewJob {
        NewJob {
            tenant_id: tenant,
            kind: JobKind::Noop,
            run_id: None,
            payload: serde_json::json!({}),
            max_attempts: 3,
            lane,
        }
    }

    /// The attempt limit stored: `max_attempts`, at least 1.
    pub fn attempt_limit(&self) -> i32 {
        self.max_attempts.max(1)
    }
}

/// Proof of ownership of a claimed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: JobId,
    /// The token this claim set; writes are fenced on it.
    pub token: Uuid,
}

/// A job handed to a worker.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    /// The lease.
    pub lease: Lease,
    /// Owner.
    pub tenant_id: TenantId,
    /// Kind (`None`: a kind this binary does not know; it is failed).
    pub kind: Option<JobKind>,
    /// The run, for run jobs.
    pub run_id: Option<RunId>,
    /// Input.
    pub payload: serde_json::Value,
    /// This attempt's number (1 = first).
    pub attempt: i32,
    /// The attempt limit.
    pub max_attempts: i32,
    /// When it was first enqueued.
    pub enqueued_at: DateTime<Utc>,
}

/// How a job attempt ended, as reported to [`Queue::finish_job`].
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// Done; the job row is removed.
    Completed,
    /// Try again at `run_after` (the attempt counter already grew at claim time).
    RetryAt {
        /// When.
        run_after: DateTime<Utc>,
        /// Why.
        error: String,
    },
    /// Failed for good.
    Failed {
        /// Why.
        error: String,
    },
}

/// What a heartbeat learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// A person asked to cancel the job's run.
    pub cancel_requested: bool,
}

/// Counters for `/jobs` and metrics.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Jobs waiting (including backed-off ones).
    pub queued: i64,
    /// Jobs under a lease.
    pub running: i64,
    /// Jobs that failed for good and are kept for inspection.
    pub failed: i64,
    /// Age in seconds of the oldest due job.
    pub oldest_queued_age_seconds: f64,
}

/// The queue port. Implemented by each store backend.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Enqueues jobs in one transaction.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<JobId>, StoreError>;

    /// Claims up to `max` due jobs of `lane` for `owner`, rotating across tenants, each with a fresh
    /// lease of `lease` duration. Returns at most `max` jobs (none when the lane is empty); never a
    /// job of another lane.
    async fn claim(
        &self,
        lane: &Lane,
        owner: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Extends a lease; `LeaseLost` if it is no longer held.
    async fn heartbeat(&self, lease: Lease, extend: Duration) -> Result<Heartbeat, StoreError>;

    /// Ends an attempt of a job that is not a run (run jobs end through `Store::finish_run` and
    /// `Store::defer_run`). `LeaseLost` if the lease is no longer held.
    async fn finish_job(&self, lease: Lease, outcome: JobOutcome) -> Result<(), StoreError>;

    /// Ends many attempts at once (one transaction); jobs whose lease was lost are skipped and counted.
    async fn finish_jobs(&self, done: &[(Lease, JobOutcome)]) -> Result<usize, StoreError>;

    /// Requeues jobs whose lease expired (a warn event on their run), or fails them (and their run)
    /// when their attempts are used up, in every lane (a job keeps its lane), as
    /// [`crate::decide::ExpiredLease`] decides. Returns how many were rescued.
    async fn rescue_expired(&self) -> Result<usize, StoreError>;

    /// Counters.
    async fn stats(&self) -> Result<QueueStats, StoreError>;
}
