//! The one table of run failure codes: every `error_code` the system sets on a failed run.
//!
//! A failed run carries a [`FailureCode`] (for programs) and a reason (for people). The stable name is
//! what the database stores, the API returns as the run's `error_code` and the `error` event carries
//! in its payload. Like [`crate::ErrorCode`] for HTTP errors, nothing else spells these names.
//!
//! Reading is lenient: a stored code this binary does not know (written by a newer version) stays a
//! string on [`crate::Run::error_code`]; [`crate::Run::failure_code`] parses it when it is known.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a run failed, for programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// Retrieval or a later stage found no document or snippet to build the report from.
    NoEvidence,
    /// A stage ran past its time limit.
    StageTimeout,
    /// The whole run ran past its time limit.
    RunTimeout,
    /// The job's attempts ran out (crashes, lost leases, retryable errors).
    AttemptsExhausted,
    /// A stage panicked, or storage failed in a way retrying cannot fix (a bug or a fault).
    InternalError,
    /// The run's input was rejected by a stage.
    InvalidInput,
}

impl FailureCode {
    /// Every code, in table order.
    pub const ALL: [FailureCode; 6] = [
        FailureCode::NoEvidence,
        FailureCode::StageTimeout,
        FailureCode::RunTimeout,
        FailureCode::AttemptsExhausted,
        FailureCode::InternalError,
        FailureCode::InvalidInput,
    ];

    /// `(stable name, meaning)` — the table.
    pub const fn parts(self) -> (&'static str, &'static str) {
        match self {
            FailureCode::NoEvidence => {
                ("no_evidence", "no document or snippet matched the question")
            }
            FailureCode::StageTimeout => ("stage_timeout", "a stage ran past its time limit"),
            FailureCode::RunTimeout => ("run_timeout", "the run ran past its time limit"),
            FailureCode::AttemptsExhausted => ("attempts_exhausted", "the job's attempts ran out"),
            FailureCode::InternalError => ("internal_error", "a stage crashed or storage failed"),
            FailureCode::InvalidInput => ("invalid_input", "a stage rejected the run's input"),
        }
    }

    /// The stable name (stored, and returned as `error_code`).
    pub const fn as_str(self) -> &'static str {
        self.parts().0
    }

    /// What the code means, for people.
    pub const fn meaning(self) -> &'static str {
        self.parts().1
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown failure code `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_name_and_serde() {
        for code in FailureCode::ALL {
            assert_eq!(code.as_str().parse::<FailureCode>(), Ok(code));
            let json = serde_json::to_value(code).unwrap_or_default();
            assert_eq!(json, serde_json::Value::from(code.as_str()));
            assert!(!code.meaning().is_empty());
        }
        assert!("no_such_code".parse::<FailureCode>().is_err());
    }

    #[test]
    fn names_are_unique_snake_case() {
        let mut names: Vec<_> = FailureCode::ALL.iter().map(|c| c.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FailureCode::ALL.len());
    }
}
