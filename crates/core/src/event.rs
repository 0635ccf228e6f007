//! Run events: the append-only log a run writes and clients stream.

use crate::ids::{EventId, RunId};
use crate::run::Stage;
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

    /// Replaces the payload.
    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }
}
