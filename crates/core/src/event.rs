//! Run events: the append-only log a run writes and clients stream, and the constructors of every
//! event the stores write — the wording of run events lives here and nowhere else.

use crate::failure::FailureCode;
use crate::ids::{EventId, RunId};
use crate::run::{RunStatus, Stage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The event vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    /// The run was created.
    #[serde(rename = "run.created")]
    RunCreated,
    /// The run was queued (at creation).
    #[serde(rename = "run.queued")]
    RunQueued,
    /// Any later state transition; the payload has `from` and `to`.
    #[serde(rename = "state")]
    State,
    /// A stage started.
    #[serde(rename = "stage_start")]
    StageStart,
    /// A stage's outputs were committed.
    #[serde(rename = "stage_finish")]
    StageFinish,
    /// Movement inside a long stage; the payload has `done` and `total`.
    #[serde(rename = "progress")]
    Progress,
    /// A message for people (info or warn).
    #[serde(rename = "log")]
    Log,
    /// A failure, with `error_code` in the payload.
    #[serde(rename = "error")]
    Error,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::RunCreated => "run.created",
            EventType::RunQueued => "run.queued",
            EventType::State => "state",
            EventType::StageStart => "stage_start",
            EventType::StageFinish => "stage_finish",
            EventType::Progress => "progress",
            EventType::Log => "log",
            EventType::Error => "error",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<EventType> {
        [
            EventType::RunCreated,
            EventType::RunQueued,
            EventType::State,
            EventType::StageStart,
            EventType::StageFinish,
            EventType::Progress,
            EventType::Log,
            EventType::Error,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// Severity of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventLevel {
    /// Normal progress.
    Info,
    /// Something went wrong and was recovered from.
    Warn,
    /// A failure.
    Error,
}

impl EventLevel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Info => "info",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<EventLevel> {
        match s {
            "info" => Some(EventLevel::Info),
            "warn" => Some(EventLevel::Warn),
            "error" => Some(EventLevel::Error),
            _ => None,
        }
    }
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunEvent {
    /// Unique across the system, increasing within a run.
    #[schema(value_type = i64)]
    pub id: EventId,
    /// The run it belongs to.
    #[serde(skip)]
    pub run_id: RunId,
    /// When it was written.
    pub ts: DateTime<Utc>,
    /// Severity.
    pub level: EventLevel,
    /// The stage it concerns, if any.
    pub stage: Option<Stage>,
    /// Its type.
    pub event_type: EventType,
    /// A line for people.
    pub message: String,
    /// Structured details.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// An event to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Severity.
    pub level: EventLevel,
    /// The stage it concerns.
    pub stage: Option<Stage>,
    /// Its type.
    pub event_type: EventType,
    /// A line for people.
    pub message: String,
    /// Structured details.
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// An info event.
    pub fn info(event_type: EventType, stage: Option<Stage>, message: impl Into<String>) -> Self {
        Self {
            level: EventLevel::Info,
            stage,
            event_type,
            message: message.into(),
            payload: serde_json::json!({}),
        }
    }

    /// A `log` event with level `warn`.
    pub fn warn(stage: Option<Stage>, message: impl Into<String>) -> Self {
        Self {
            level: EventLevel::Warn,
            stage,
            event_type: EventType::Log,
            message: message.into(),
            payload: serde_json::json!({}),
        }
    }

    /// A `progress` event: `done` of `total` within `stage`.
    pub fn progress(stage: Stage, done: u64, total: u64, message: impl Into<String>) -> Self {
        Self {
            level: EventLevel::Info,
            stage: Some(stage),
            event_type: EventType::Progress,
            message: message.into(),
            payload: serde_json::json!({ "done": done, "total": total }),
        }
    }

    /// `run.created`, with the question and the sources in the payload.
    pub fn run_created(question: &str, sources: &[String]) -> Self {
        Self::info(EventType::RunCreated, None, "run created")
            .with_payload(serde_json::json!({ "question": question, "sources": sources }))
    }

    /// `run.queued`, written with `run.created`.
    pub fn run_queued() -> Self {
        Self::info(EventType::RunQueued, None, "run queued")
    }

    /// A `state` event for the transition `from → to`.
    pub fn state(
        from: RunStatus,
        to: RunStatus,
        stage: Option<Stage>,
        message: impl Into<String>,
    ) -> Self {
        Self::info(EventType::State, stage, message)
            .with_payload(serde_json::json!({ "from": from, "to": to }))
    }

    /// The `state` event of a run reaching a terminal `to`.
    pub fn run_ended(from: RunStatus, to: RunStatus, stage: Option<Stage>) -> Self {
        Self::state(from, to, stage, format!("run {to}"))
    }

    /// The `error` event of a failed run (written before its `state` event).
    pub fn run_failed(stage: Option<Stage>, code: FailureCode, reason: &str) -> Self {
        Self {
            level: EventLevel::Error,
            stage,
            event_type: EventType::Error,
            message: reason.to_string(),
            payload: serde_json::json!({ "error_code": code, "reason": reason }),
        }
    }

    /// The `state` event of a worker starting a queued run after `checkpoint`.
    pub fn run_started(checkpoint: Option<Stage>) -> Self {
        Self::state(
            RunStatus::Queued,
            RunStatus::Running,
            checkpoint,
            format!("run started at stage {}", resume_stage(checkpoint)),
        )
    }

    /// The `state` event of a retry request (`from` is `failed` or `blocked`).
    pub fn retry_requested(
        from: RunStatus,
        stage: Option<Stage>,
        checkpoint: Option<Stage>,
    ) -> Self {
        let after = checkpoint.map_or("the start".into(), |s| format!("stage {s}"));
        Self::state(
            from,
            RunStatus::Queued,
            stage,
            format!("retry requested; resuming after {after}"),
        )
    }

    /// The `log` event of a cancel requested while the run is executing.
    pub fn cancel_requested(stage: Option<Stage>) -> Self {
        Self::info(
            EventType::Log,
            stage,
            "cancel requested; the run stops at the next checkpoint",
        )
    }

    /// `stage_start`.
    pub fn stage_started(stage: Stage) -> Self {
        Self::info(
            EventType::StageStart,
            Some(stage),
            format!("{stage} started"),
        )
    }

    /// `stage_finish` with the stage's counters as payload (`message` empty: "<stage> finished").
    pub fn stage_finished(stage: Stage, message: &str, usage: serde_json::Value) -> Self {
        let message = if message.is_empty() {
            format!("{stage} finished")
        } else {
            message.to_string()
        };
        Self::info(EventType::StageFinish, Some(stage), message).with_payload(usage)
    }

    /// The `warn` event of a retryable error: the job waits `wait_ms` until `retry_at`.
    pub fn retry_scheduled(retry_at: DateTime<Utc>, wait_ms: i64, reason: &str) -> Self {
        Self::warn(
            None,
            format!(
                "retryable error, retrying in {:.1} s: {reason}",
                wait_ms.max(0) as f64 / 1000.0
            ),
        )
        .with_payload(serde_json::json!({ "retry_at": retry_at, "reason": reason }))
    }

    /// The `warn` event of a rescue: worker `owner` stopped heartbeating during `attempt`; the run
    /// resumes after `checkpoint`.
    pub fn lease_expired(
        stage: Option<Stage>,
        owner: &str,
        attempt: i64,
        checkpoint: Option<Stage>,
    ) -> Self {
        Self::warn(
            stage,
            format!(
                "worker {owner} stopped responding (lease expired); the run resumes at stage {}",
                resume_stage(checkpoint)
            ),
        )
        .with_payload(serde_json::json!({ "reason": "lease_expired", "attempt": attempt }))
    }

    /// Replaces the payload.
    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }
}

/// The stage a run resumes at after `checkpoint` (`export` when every stage is committed).
fn resume_stage(checkpoint: Option<Stage>) -> Stage {
    Stage::after_checkpoint(checkpoint).unwrap_or(Stage::Export)
}
