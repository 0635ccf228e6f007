//! Projects: named groups of runs within a tenant.

use crate::ids::ProjectId;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A project as stored and returned.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Project {
    /// The project's id.
    pub id: ProjectId,
    /// A human name (1–200 characters).
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Time of the last change to the project or one of its runs.
    pub last_activity_at: DateTime<Utc>,
}

/// A validated project to create.
#[derive(Clone, Debug)]
pub struct NewProject {
    /// The name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
}

/// A validated partial update; `None` leaves a field alone, `Some(None)` clears the description.
#[derive(Clone, Debug, Default)]
pub struct ProjectPatch {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<Option<String>>,
}
