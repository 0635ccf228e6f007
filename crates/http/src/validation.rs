//! Request bodies and the rules that turn them into the core's validated values (`NewProject`,
//! `ProjectPatch`, `NewRun`, `PageRequest`). Pure functions: every violation of a body is collected
//! into one 422 whose `errors` names each offending field; a bad query parameter is a 400. No I/O and
//! no state beyond the enabled-source list passed in.
//!
//! The rules are also written into the OpenAPI schemas (`#[schema(...)]` below, `*_PATTERN`); the tests
//! check the two agree. Text rules: lengths count characters of the value as sent (before trimming);
//! names, questions and descriptions are trimmed; a name or question must keep a non-whitespace
//! character; control characters (Unicode `Cc`) are refused, except TAB, LF and CR in the multi-line
//! fields (question, description).

use crate::error::{ApiError, excerpt};
use crate::state::KNOWN_SOURCES;
use researchops_core::{
    ErrorCode, Lane, NewProject, NewRun, PageRequest, ProjectId, ProjectPatch, RunOptions,
};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// Longest project name, in characters (after trimming).
pub const MAX_PROJECT_NAME: usize = 200;
/// Longest project description, in characters.
pub const MAX_PROJECT_DESCRIPTION: usize = 2000;
/// Longest research question, in characters (after trimming).
pub const MAX_QUESTION: usize = 2000;
/// Longest idempotency key, in characters.
pub const MAX_CLIENT_REQUEST_ID: usize = 200;

/// JSON Schema of a single-line text that must keep a visible character (names): no control
/// character, at least one character that is neither a control nor whitespace.
pub const NAME_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// JSON Schema of a multi-line text that must keep a visible character (questions): no control
/// character but TAB, LF and CR, at least one character that is neither a control nor whitespace.
pub const QUESTION_PATTERN: &str = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";
/// JSON Schema of a multi-line text that may be blank (descriptions).
pub const DESCRIPTION_PATTERN: &str =
    "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";
/// JSON Schema of a single-line text that may be anything visible or blank (idempotency keys).
pub const KEY_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// JSON Schema of a page cursor as the stores write it: `<milliseconds>_<uuid>`.
pub const CURSOR_PATTERN: &str =
    "^[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// `POST /projects`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateProjectBody {
    /// 1–200 characters, no control characters, not only whitespace (trimmed when stored).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
    /// At most 2000 characters; TAB, LF and CR are the only control characters allowed. Blank means
    /// none.
    #[serde(default)]
    #[schema(
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub description: Option<String>,
}

/// `PATCH /projects/{project_id}`: absent fields are left alone; `"description": null` clears it.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PatchProjectBody {
    /// A new name, as in `CreateProjectBody` (null: unchanged).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: Option<String>,
    /// A new description, as in `CreateProjectBody`, or null (or blank) to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(
        value_type = Option<String>,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub description: Option<Option<String>>,
}

/// `POST /projects/{project_id}/runs`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateRunBody {
    /// The research question: 1–2000 characters, not only whitespace; TAB, LF and CR are the only
    /// control characters allowed (trimmed when stored).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub question: String,
    /// Idempotency key, unique per tenant: 1–200 characters, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub client_request_id: Option<String>,
    /// Connectors to use (at least one, each enabled on this server); default: every enabled source.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub sources: Option<Vec<String>>,
    /// Tunables; every field has a default.
    #[serde(default)]
    pub options: Option<RunOptions>,
}

/// Distinguishes an explicit `null` (`Some(None)`) from an absent field (`None`, via `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Default)]
struct Errors(BTreeMap<String, String>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// Which control characters a text field tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    /// One line: no control character at all (names, keys).
    SingleLine,
    /// Several lines: TAB, LF and CR allowed (questions, descriptions).
    MultiLine,
}

/// The first character `kind` refuses in `text`: a Unicode control character (`Cc`), bar TAB, LF and
/// CR in multi-line text.
pub fn forbidden_char(text: &str, kind: TextKind) -> Option<char> {
    text.chars().find(|&c| {
        c.is_control() && !(kind == TextKind::MultiLine && matches!(c, '\t' | '\n' | '\r'))
    })
}

/// Checks a text field (length counted as sent, control characters) and returns it trimmed; `required`
/// also demands something other than whitespace.
fn check_text(
    errors: &mut Errors,
    field: &str,
    text: &str,
    max: usize,
    kind: TextKind,
    required: bool,
) -> String {
    let trimmed = text.trim();
    if required && trimmed.is_empty() {
        errors.add(field, "must not be empty");
    } else if text.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    } else if let Some(c) = forbidden_char(text, kind) {
        errors.add(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        );
    }
    trimmed.to_owned()
}

fn check_name(errors: &mut Errors, name: &str) -> String {
    check_text(
        errors,
        "name",
        name,
        MAX_PROJECT_NAME,
        TextKind::SingleLine,
        true,
    )
}

fn check_description(errors: &mut Errors, description: Option<String>) -> Option<String> {
    description
        .map(|d| {
            check_text(
                errors,
                "description",
                &d,
                MAX_PROJECT_DESCRIPTION,
                TextKind::MultiLine,
                false,
            )
        })
        .filter(|d| !d.is_empty())
}

/// Validates a new project.
pub fn new_project(body: CreateProjectBody) -> Result<NewProject, ApiError> {
    let mut errors = Errors::default();
    let name = check_name(&mut errors, &body.name);
    let description = check_description(&mut errors, body.description);
    errors.finish(NewProject { name, description })
}

/// Validates a project patch.
pub fn project_patch(body: PatchProjectBody) -> Result<ProjectPatch, ApiError> {
    let mut errors = Errors::default();
    let name = body.name.map(|n| check_name(&mut errors, &n));
    let description = body.description.map(|d| check_description(&mut errors, d));
    errors.finish(ProjectPatch { name, description })
}

/// Validates a new run against the sources enabled on this server.
pub fn new_run(
    project_id: ProjectId,
    body: CreateRunBody,
    enabled_sources: &[String],
) -> Result<NewRun, ApiError> {
    let mut errors = Errors::default();

    let question = check_text(
        &mut errors,
        "question",
        &body.question,
        MAX_QUESTION,
        TextKind::MultiLine,
        true,
    );

    if let Some(key) = &body.client_request_id {
        let len = key.chars().count();
        if len == 0 {
            errors.add("client_request_id", "must not be empty when given");
        } else if len > MAX_CLIENT_REQUEST_ID {
            errors.add(
                "client_request_id",
                format!("must be at most {MAX_CLIENT_REQUEST_ID} characters"),
            );
        } else if forbidden_char(key, TextKind::SingleLine).is_some() {
            errors.add("client_request_id", "must not contain control characters");
        }
    }

    let sources = match check_sources(body.sources, enabled_sources) {
        Ok(sources) => sources,
        Err(message) => {
            errors.add("sources", message);
            Vec::new()
        }
    };

    let options = body.options.unwrap_or_default();
    for (field, message) in options.validate() {
        errors.add(&field, message);
    }

    errors.finish(NewRun {
        project_id,
        question,
        sources,
        options,
        client_request_id: body.client_request_id,
        lane: Lane::default(),
    })
}

/// A list page request: `limit` must lie in 1–[`researchops_core::page::MAX_LIMIT`] (default
/// [`researchops_core::page::DEFAULT_LIMIT`]); `cursor` must look like a cursor this server wrote.
pub fn page(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    check_limit(limit, researchops_core::page::MAX_LIMIT)?;
    if let Some(cursor) = &cursor
        && !is_cursor(cursor)
    {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "The cursor is not valid; pass a `next_cursor` from an earlier page.",
        ));
    }
    Ok(PageRequest::new(limit, cursor))
}

/// A `limit` parameter: absent, or 1–`max`; anything else is a 400 (never clamped silently).
pub fn check_limit(limit: Option<u32>, max: u32) -> Result<(), ApiError> {
    match limit {
        Some(value) if value == 0 || value > max => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("`limit` must be between 1 and {max}, got {value}."),
        )),
        _ => Ok(()),
    }
}

/// Whether `cursor` matches [`CURSOR_PATTERN`].
fn is_cursor(cursor: &str) -> bool {
    let Some((ms, id)) = cursor.split_once('_') else {
        return false;
    };
    let hex = |part: &str, len: usize| {
        part.len() == len
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let groups: Vec<&str> = id.split('-').collect();
    (1..=18).contains(&ms.len())
        && ms.bytes().all(|b| b.is_ascii_digit())
        && groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| hex(g, len))
}

/// The run's connector names: the requested ones (trimmed, lower-cased, deduplicated and sorted), or
/// every enabled one when none were requested. The error message names the enabled sources.
pub fn check_sources(
    requested: Option<Vec<String>>,
    enabled: &[String],
) -> Result<Vec<String>, String> {
    let enabled_list = || {
        if enabled.is_empty() {
            "none".to_owned()
        } else {
            enabled.join(", ")
        }
    };
    let mut sources: Vec<String> = match requested {
        None => enabled.to_vec(),
        Some(list) if list.is_empty() => {
            return Err(format!(
                "must name at least one source; enabled here: {}",
                enabled_list()
            ));
        }
        Some(list) => list
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect(),
    };
    sources.sort();
    sources.dedup();
    if sources.is_empty() {
        return Err("no source is enabled on this server".to_owned());
    }
    let rejected: Vec<&str> = sources
        .iter()
        .filter(|s| !enabled.contains(s))
        .map(String::as_str)
        .collect();
    if let Some(first) = rejected.first() {
        let why = if KNOWN_SOURCES.contains(first) {
            "is not enabled on this server"
        } else {
            "is not a known source"
        };
        let names = rejected
            .iter()
            .take(5)
            .map(|s| format!("`{}`", excerpt(s)))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(format!("{names} {why}; enabled here: {}", enabled_list()));
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use researchops_core::ErrorCode;

    fn enabled() -> Vec<String> {
        vec!["kb".to_owned(), "local".to_owned()]
    }

    fn run_body(question: &str) -> CreateRunBody {
        CreateRunBody {
            question: question.to_owned(),
            client_request_id: None,
            sources: None,
            options: None,
        }
    }

    #[test]
    fn project_names_are_trimmed_and_bounded() {
        let ok = new_project(CreateProjectBody {
            name: "  Climate  ".into(),
            description: Some("  ".into()),
        })
        .expect("valid");
        assert_eq!(ok.name, "Climate");
        assert_eq!(ok.description, None);

        let err = new_project(CreateProjectBody {
            name: "   ".into(),
            description: Some("x".repeat(2001)),
        })
        .expect_err("invalid");
        assert_eq!(err.code(), ErrorCode::Validation);
        let fields = err.errors().expect("errors");
        assert!(fields.contains_key("name") && fields.contains_key("description"));

        assert!(
            new_project(CreateProjectBody {
                name: "é".repeat(200),
                description: None
            })
            .is_ok()
        );
        assert!(
            new_project(CreateProjectBody {
                name: "é".repeat(201),
                description: None
            })
            .is_err()
        );
    }

    #[test]
    fn a_patch_tells_an_explicit_null_from_an_absent_field() {
        let absent: PatchProjectBody = serde_json::from_str(r#"{"name":"n"}"#).expect("json");
        assert_eq!(project_patch(absent).expect("valid").description, None);
        let null: PatchProjectBody = serde_json::from_str(r#"{"description":null}"#).expect("json");
        let patch = project_patch(null).expect("valid");
        assert_eq!(patch.description, Some(None));
        assert_eq!(patch.name, None);
        let empty_name: PatchProjectBody = serde_json::from_str(r#"{"name":""}"#).expect("json");
        assert!(project_patch(empty_name).is_err());
    }

    #[test]
    fn sources_default_to_the_enabled_ones_and_are_normalised() {
        assert_eq!(check_sources(None, &enabled()), Ok(enabled()));
        let picked = check_sources(
            Some(vec!["local".into(), " KB".into(), "local".into()]),
            &enabled(),
        );
        assert_eq!(picked, Ok(vec!["kb".to_owned(), "local".to_owned()]));
    }

    #[test]
    fn unknown_disabled_or_empty_sources_are_rejected_naming_the_enabled_ones() {
        for bad in [vec!["openalex".to_owned()], vec!["nope".to_owned()], vec![]] {
            let err = check_sources(Some(bad.clone()), &enabled()).expect_err("rejected");
            assert!(err.contains("kb, local"), "{bad:?}: {err}");
        }
        assert!(check_sources(None, &[]).is_err());
    }

    #[test]
    fn runs_collect_every_violation() {
        let mut body = run_body("   ");
        body.client_request_id = Some("k".repeat(201));
        body.sources = Some(vec!["arxiv".into()]);
        body.options = Some(RunOptions {
            max_sources: 0,
            ..RunOptions::default()
        });
        let err = new_run(ProjectId::new(), body, &enabled()).expect_err("invalid");
        let fields = err.errors().expect("errors");
        for field in [
            "question",
            "client_request_id",
            "sources",
            "options.max_sources",
        ] {
            assert!(fields.contains_key(field), "{field} in {fields:?}");
        }
        assert!(err.detail().contains("enabled here: kb, local"));
    }

    #[test]
    fn a_valid_run_is_trimmed_and_gets_default_options() {
        let run = new_run(ProjectId::new(), run_body("  What is X?  "), &enabled()).expect("valid");
        assert_eq!(run.question, "What is X?");
        assert_eq!(run.sources, enabled());
        assert_eq!(run.options, RunOptions::default());
        assert!(new_run(ProjectId::new(), run_body(&"q".repeat(2001)), &enabled()).is_err());
        assert!(new_run(ProjectId::new(), run_body(&"q".repeat(2000)), &enabled()).is_ok());
    }
}
