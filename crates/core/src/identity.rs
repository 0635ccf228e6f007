//! Who is calling: the tenant, the user and their roles. Produced by the HTTP layer's extractor,
//! consumed by every store call (which is always tenant-scoped).

use crate::ids::TenantId;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Roles in increasing order of power: each includes the ones before it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    Viewer,
    /// Starts runs, ingests, exports.
    Researcher,
    /// Administers the tenant.
    Admin,
    /// Owns the tenant.
    Owner,
}

impl Role {
    /// The role's name as used in tokens and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Researcher => "researcher",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "researcher" => Ok(Role::Researcher),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            other => Err(format!(
                "unknown role `{other}` (viewer, researcher, admin, owner)"
            )),
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The tenant every data access is scoped to.
    pub tenant_id: TenantId,
    /// The user (or API key / development user) acting.
    pub user_id: String,
    /// The caller's roles; the highest one decides.
    pub roles: Vec<Role>,
}

impl Identity {
    /// The most powerful role held (viewer when none).
    pub fn highest_role(&self) -> Role {
        self.roles.iter().copied().max().unwrap_or(Role::Viewer)
    }

    /// Whether the caller holds `role` or a more powerful one.
    pub fn has_role(&self, role: Role) -> bool {
        self.highest_role() >= role
    }
}
