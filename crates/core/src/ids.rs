//! Typed identifiers. Every id is a UUID wrapped in its own type so a project id can never be passed
//! where a run id is expected. Event ids are the exception: a globally increasing integer.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

uuid_id!(/// A tenant: the unit of isolation. Every tenant-owned row carries one.
    TenantId);
uuid_id!(/// A project groups runs.
    ProjectId);
uuid_id!(/// A research run.
    RunId);
uuid_id!(/// A queued unit of work.
    JobId);
uuid_id!(/// A source (a document found by a connector).
    SourceId);
uuid_id!(/// An immutable snapshot of a source's bytes.
    SnapshotId);
uuid_id!(/// A citeable span of a snapshot's text.
    SnippetId);
uuid_id!(/// A downloadable file produced by a run.
    ArtifactId);

/// The identifier of a run event: unique across the system and increasing within a run.
pub type EventId = i64;
