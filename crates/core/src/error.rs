//! The one error-code table of the API, and the store's error type.
//!
//! Every error that reaches a client is an [`ErrorCode`]: a stable name, an HTTP status and a title.
//! The HTTP crate renders it as problem+json; nothing else maps errors to statuses. A 5xx is always a bug
//! or an outage, and its body stays opaque while the log carries the cause.

use thiserror::Error;

/// Every error class a client can see. The table below is the only place statuses are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The body or a parameter could not be parsed.
    BadRequest,
    /// No valid credentials.
    Unauthorized,
    /// Authenticated, but the role or scope is too low.
    Forbidden,
    /// Unknown, or owned by another tenant.
    NotFound,
    /// The path exists but does not support the request's method.
    MethodNotAllowed,
    /// The request (its body) did not arrive in time; the connection is closed.
    RequestTimeout,
    /// The resource's state does not allow the request.
    Conflict,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// The body's content type is not accepted.
    UnsupportedMediaType,
    /// Well-formed but invalid.
    Validation,
    /// The requested byte range cannot be served.
    RangeNotSatisfiable,
    /// A quota or rate limit was hit.
    RateLimited,
    /// A dependency (the database) is not ready.
    NotReady,
    /// A bug or an unexpected fault.
    Internal,
}

impl ErrorCode {
    /// Every code, in status order.
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RangeNotSatisfiable,
        ErrorCode::Validation,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::NotReady,
    ];

    /// The code of a bare HTTP status, if the table has one.
    pub fn from_status(status: u16) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|code| code.status() == status)
    }

    /// `(status, stable name, title)` — the table.
    pub const fn parts(self) -> (u16, &'static str, &'static str) {
        match self {
            ErrorCode::BadRequest => (400, "bad_request", "Bad request"),
            ErrorCode::Unauthorized => (401, "unauthorized", "Not authenticated"),
            ErrorCode::Forbidden => (403, "forbidden", "Forbidden"),
            ErrorCode::NotFound => (404, "not_found", "Not found"),
            ErrorCode::MethodNotAllowed => (405, "method_not_allowed", "Method not allowed"),
            ErrorCode::RequestTimeout => (408, "request_timeout", "Request timeout"),
            ErrorCode::Conflict => (409, "conflict", "Conflict"),
            ErrorCode::PayloadTooLarge => (413, "payload_too_large", "Payload too large"),
            ErrorCode::UnsupportedMediaType => {
                (415, "unsupported_media_type", "Unsupported media type")
            }
            ErrorCode::Validation => (422, "validation_failed", "Validation failed"),
            ErrorCode::RangeNotSatisfiable => {
                (416, "range_not_satisfiable", "Range not satisfiable")
            }
            ErrorCode::RateLimited => (429, "rate_limited", "Too many requests"),
            ErrorCode::NotReady => (503, "not_ready", "Service not ready"),
            ErrorCode::Internal => (500, "internal_error", "Internal server error"),
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> u16 {
        self.parts().0
    }

    /// The stable machine-readable name (the problem `type` ends with it).
    pub const fn name(self) -> &'static str {
        self.parts().1
    }

    /// A short human title.
    pub const fn title(self) -> &'static str {
        self.parts().2
    }
}

/// What a store call can fail with. Callers' mistakes are separate from faults.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The row does not exist for this tenant.
    #[error("not found")]
    NotFound,
    /// The row's state forbids the change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The job's lease was lost (expired and rescued, or the job finished elsewhere): the caller must
    /// stop and commit nothing.
    #[error("the job's lease was lost")]
    LeaseLost,
    /// A pagination cursor that this store did not produce.
    #[error("invalid cursor")]
    BadCursor,
    /// The database cannot be reached right now (retryable).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database schema is newer than this binary knows.
    #[error("database schema version {found} is newer than this binary supports ({supported})")]
    SchemaTooNew {
        /// The newest migration applied in the database.
        found: i64,
        /// The newest migration this binary has.
        supported: i64,
    },
    /// Anything else (a bug, corrupt data).
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// The client-facing code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound => ErrorCode::NotFound,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::BadCursor => ErrorCode::BadRequest,
            StoreError::Unavailable(_) => ErrorCode::NotReady,
            StoreError::LeaseLost | StoreError::SchemaTooNew { .. } | StoreError::Internal(_) => {
                ErrorCode::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive on purpose: a new variant does not compile until it is placed in `ALL`.
    fn position(code: ErrorCode) -> usize {
        match code {
            ErrorCode::BadRequest => 0,
            ErrorCode::Unauthorized => 1,
            ErrorCode::Forbidden => 2,
            ErrorCode::NotFound => 3,
            ErrorCode::MethodNotAllowed => 4,
            ErrorCode::RequestTimeout => 5,
            ErrorCode::Conflict => 6,
            ErrorCode::PayloadTooLarge => 7,
            ErrorCode::UnsupportedMediaType => 8,
            ErrorCode::RangeNotSatisfiable => 9,
            ErrorCode::Validation => 10,
            ErrorCode::RateLimited => 11,
            ErrorCode::Internal => 12,
            ErrorCode::NotReady => 13,
        }
    }

    #[test]
    fn the_table_lists_every_code_once_with_distinct_statuses_and_names() {
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(position(code), i, "{code:?} is out of place in ALL");
            assert_eq!(ErrorCode::from_status(code.status()), Some(code));
            let same_name = ErrorCode::ALL
                .iter()
                .filter(|c| c.name() == code.name())
                .count();
            assert_eq!(same_name, 1, "{} is not unique", code.name());
        }
        assert_eq!(ErrorCode::from_status(418), None);
        assert_eq!(
            ErrorCode::from_status(405),
            Some(ErrorCode::MethodNotAllowed)
        );
    }
}
