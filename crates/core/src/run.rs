//! Runs: the state machine, the seven stages, run options and what creating a run can yield.
//!
//! The transition table here is the only one; stores guard every update with the expected state.

use crate::failure::FailureCode;
use crate::ids::{ProjectId, RunId};
use crate::queue::Lane;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A run's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Created; visible only as the `run.created` event (creation queues in the same transaction).
    Created,
    /// Waiting for a worker.
    Queued,
    /// A worker is executing it.
    Running,
    /// Finished with a report.
    Succeeded,
    /// Finished without a report; see `error_code`.
    Failed,
    /// Stopped by a person.
    Canceled,
    /// Waiting for a person.
    Blocked,
}

impl RunStatus {
    /// All states.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Created,
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Canceled,
        RunStatus::Blocked,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Created => "created",
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Canceled => "canceled",
            RunStatus::Blocked => "blocked",
        }
    }

    /// Whether no worker will touch the run again (unless retried).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Canceled | RunStatus::Blocked
        )
    }

    /// The run's `finish_reason` once it reached this state: `completed`, `canceled` or `failed`
    /// (`None` for states a run leaves again).
    pub fn finish_reason(self) -> Option<&'static str> {
        match self {
            RunStatus::Succeeded => Some("completed"),
            RunStatus::Canceled => Some("canceled"),
            RunStatus::Failed | RunStatus::Blocked => Some("failed"),
            RunStatus::Created | RunStatus::Queued | RunStatus::Running => None,
        }
    }

    /// Whether the run is waiting for or being executed by a worker.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RunStatus::Created | RunStatus::Queued | RunStatus::Running
        )
    }

    /// The transition table: `created → queued → running → {succeeded | failed | canceled | blocked}`,
    /// `queued → canceled`, `failed | blocked → queued` (retry).
    pub fn can_transition_to(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Created, Queued)
                | (Queued, Running)
                | (Queued, Canceled)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Canceled)
                | (Running, Blocked)
                | (Failed, Queued)
                | (Blocked, Queued)
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown run status `{s}`"))
    }
}

/// The pipeline's stages, in order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Find candidate documents.
    Retrieve,
    /// Snapshot them and cut citeable snippets.
    Ingest,
    /// Decide the report's sections.
    Outline,
    /// Write each section from evidence.
    Draft,
    /// Check structure and citations.
    Validate,
    /// Judge every claim against its snippets.
    Factcheck,
    /// Write the artifacts.
    Export,
}

impl Stage {
    /// The stages in execution order.
    pub const ALL: [Stage; 7] = [
        Stage::Retrieve,
        Stage::Ingest,
        Stage::Outline,
        Stage::Draft,
        Stage::Validate,
        Stage::Factcheck,
        Stage::Export,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Retrieve => "retrieve",
            Stage::Ingest => "ingest",
            Stage::Outline => "outline",
            Stage::Draft => "draft",
            Stage::Validate => "validate",
            Stage::Factcheck => "factcheck",
            Stage::Export => "export",
        }
    }

    /// The stage after this one, if any.
    pub fn next(self) -> Option<Stage> {
        let i = Stage::ALL.iter().position(|s| *s == self)?;
        Stage::ALL.get(i + 1).copied()
    }

    /// The first stage still to run after a checkpoint (`None` checkpoint: the first stage).
    pub fn after_checkpoint(checkpoint: Option<Stage>) -> Option<Stage> {
        match checkpoint {
            None => Some(Stage::Retrieve),
            Some(done) => done.next(),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown stage `{s}`"))
    }
}

/// Tunables a client may pass in `options`; every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RunOptions {
    /// Documents kept after retrieval (1–50, default 10).
    #[schema(minimum = 1, maximum = 50)]
    pub max_sources: u32,
    /// Report sections at most (1–12, default 6).
    #[schema(minimum = 1, maximum = 12)]
    pub max_sections: u32,
    /// Claims per section at most (1–20, default 4).
    #[schema(minimum = 1, maximum = 20)]
    pub claims_per_section: u32,
    /// Share of drafted claims that must pass the fact check for the run to finish `completed`
    /// rather than `completed_with_gaps` (0–1, default 0.6).
    #[schema(minimum = 0, maximum = 1)]
    pub min_supported_share: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            max_sources: 10,
            max_sections: 6,
            claims_per_section: 4,
            min_supported_share: RunOptions::DEFAULT_MIN_SUPPORTED_SHARE,
        }
    }
}

impl RunOptions {
    /// Default of [`RunOptions::min_supported_share`].
    pub const DEFAULT_MIN_SUPPORTED_SHARE: f64 = 0.6;

    /// Field → message for every out-of-range value.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut check = |name: &str, value: u32, lo: u32, hi: u32| {
            if !(lo..=hi).contains(&value) {
                errors.push((
                    format!("options.{name}"),
                    format!("must be between {lo} and {hi}"),
                ));
            }
        };
        check("max_sources", self.max_sources, 1, 50);
        check("max_sections", self.max_sections, 1, 12);
        check("claims_per_section", self.claims_per_section, 1, 20);
        if !(0.0..=1.0).contains(&self.min_supported_share) {
            errors.push((
                "options.min_supported_share".into(),
                "must be between 0 and 1".into(),
            ));
        }
        errors
    }
}

/// A run as stored.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// Its project.
    pub project_id: ProjectId,
    /// The research question.
    pub question: String,
    /// The connectors it uses, e.g. `["local"]`.
    pub sources: Vec<String>,
    /// Its options.
    pub options: RunOptions,
    /// Always `report`.
    pub output_type: String,
    /// Its state.
    pub status: RunStatus,
    /// The stage being executed, or the last one executed.
    pub current_stage: Option<Stage>,
    /// The last stage whose outputs are committed.
    pub checkpoint: Option<Stage>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was (last) queued.
    pub queued_at: Option<DateTime<Utc>>,
    /// When a worker first started it (this attempt series).
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal state.
    pub finished_at: Option<DateTime<Utc>>,
    /// When a cancel was requested while running.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// Requested retries (`POST /runs/{id}/retry`).
    pub retry_count: i64,
    /// Worker attempts, including automatic recoveries.
    pub attempt: i64,
    /// Why it failed, for people.
    pub failure_reason: Option<String>,
    /// Why it failed, for programs: a [`FailureCode`] name (kept as stored; see [`Run::failure_code`]).
    pub error_code: Option<String>,
    /// `completed`, `failed` or `canceled` once terminal.
    pub finish_reason: Option<String>,
    /// Counters (sources, snippets, claims, …).
    #[schema(value_type = Object)]
    pub usage: serde_json::Value,
    /// The idempotency key it was created with.
    pub client_request_id: Option<String>,
}

impl Run {
    /// The failure code, when the stored one is in this binary's table.
    pub fn failure_code(&self) -> Option<FailureCode> {
        self.error_code.as_deref().and_then(|c| c.parse().ok())
    }
}

/// A validated run to create.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// The project (must exist in the tenant).
    pub project_id: ProjectId,
    /// The question (trimmed, non-empty).
    pub question: String,
    /// Connector names, sorted and deduplicated.
    pub sources: Vec<String>,
    /// Options.
    pub options: RunOptions,
    /// Idempotency key, unique per tenant.
    pub client_request_id: Option<String>,
    /// The queue lane its job waits in ([`Lane::default`] for the API). Not part of the request's
    /// fingerprint: it says who executes the run, not what the run is.
    pub lane: Lane,
}

/// What creating a run yielded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateRunOutcome {
    /// A new run was created and queued.
    Created(RunId),
    /// The `client_request_id` matched an identical earlier request.
    Existing(RunId, RunStatus),
}
