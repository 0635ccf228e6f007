//! The OpenAPI 3.1 document: its frame ([`ApiDoc`]: title, description, tags, shared schemas), and
//! [`finish`], which adds what every operation shares rather than repeating it in each annotation —
//! the error responses the edge can give any request (400 for a bad identity header or parameter, 401,
//! 413/415 for bodies, 503 when the database is away), the links between operations that let a client
//! (or schemathesis' stateful phase) chain them, and the connector names this server enables. Paths and
//! their schemas come from the handlers' `#[utoipa::path]` annotations via the route table in `lib.rs`.

use crate::error::{PROBLEM_JSON, Problem};
use serde_json::{Map, Value, json};
use utoipa::OpenApi;

/// The document's static part.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ResearchOps Studio API",
        description = "Research runs executed by workers through a durable queue and streamed live over SSE.\n\n\
            Errors are `application/problem+json` (`type`, `title`, `status`, `detail`, `request_id`, optional \
            `errors`). Every response carries `X-Request-ID`. Unknown ids and other tenants' ids are 404.\n\n\
            Request bodies are JSON (`Content-Type: application/json`, no `Content-Encoding` but `identity`); \
            where an object is expected, an array is refused. Text fields refuse control characters (TAB, LF \
            and CR are allowed in questions and descriptions); lengths count characters as sent.\n\n\
            Authentication: in local development (`DEV_BYPASS_AUTH=true`) the identity comes from the \
            `X-Dev-User-Id`, `X-Dev-Tenant-Id` and `X-Dev-Roles` headers (an empty or malformed one is a 400); \
            otherwise protected routes answer 401.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(Problem)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "projects", description = "Named groups of runs"),
        (name = "runs", description = "Research runs and their results"),
        (name = "events", description = "A run's event log, as JSON or a live SSE stream"),
        (name = "artifacts", description = "Files a run produced"),
    )
)]
pub struct ApiDoc;

/// Operations that never authenticate nor touch the store.
const UNAUTHENTICATED: [&str; 3] = ["healthz", "health", "readyz"];

/// A link's target parameters: (name, runtime expression such as `$response.body#/id`).
type LinkParameters = &'static [(&'static str, &'static str)];

/// A link: (source operation, status, link name, target operation, parameters).
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    LinkParameters,
);

/// Links between operations.
const LINKS: &[LinkSpec] = &[
    (
        "create_project",
        "201",
        "GetProject",
        "get_project",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "create_project",
        "201",
        "PatchProject",
        "patch_project",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "create_project",
        "201",
        "DeleteProject",
        "delete_project",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "create_project",
        "201",
        "CreateRun",
        "create_run",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "create_project",
        "201",
        "ListRuns",
        "list_runs",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "get_project",
        "200",
        "CreateRun",
        "create_run",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "get_project",
        "200",
        "ListRuns",
        "list_runs",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "patch_project",
        "200",
        "GetProject",
        "get_project",
        &[("project_id", "$response.body#/id")],
    ),
    (
        "delete_project",
        "204",
        "GetProject",
        "get_project",
        &[("project_id", "$request.path.project_id")],
    ),
    (
        "delete_project",
        "204",
        "ListRuns",
        "list_runs",
        &[("project_id", "$request.path.project_id")],
    ),
    (
        "list_projects",
        "200",
        "GetProject",
        "get_project",
        &[("project_id", "$response.body#/items/0/id")],
    ),
    (
        "create_run",
        "202",
        "GetRun",
        "get_run",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "GetRunStatus",
        "get_run_status",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "GetRunOutput",
        "get_run_output",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "GetRunContext",
        "get_run_context",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "GetRunEvidence",
        "get_run_evidence",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "GetRunClaims",
        "get_run_claims",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "GetEvents",
        "get_events",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "ListArtifacts",
        "list_artifacts",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "CancelRun",
        "cancel_run",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "202",
        "RetryRun",
        "retry_run",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "200",
        "GetRun",
        "get_run",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "200",
        "GetRunStatus",
        "get_run_status",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "create_run",
        "200",
        "CancelRun",
        "cancel_run",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "list_runs",
        "200",
        "GetRun",
        "get_run",
        &[("run_id", "$response.body#/items/0/id")],
    ),
    (
        "get_run",
        "200",
        "ListArtifacts",
        "list_artifacts",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "get_run",
        "200",
        "DownloadArtifact",
        "download_artifact",
        &[
            ("run_id", "$response.body#/id"),
            ("artifact_id", "$response.body#/artifacts/0/id"),
        ],
    ),
    (
        "get_run",
        "200",
        "GetEvents",
        "get_events",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "get_run",
        "200",
        "RetryRun",
        "retry_run",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "get_run_status",
        "200",
        "GetRunOutput",
        "get_run_output",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "get_run_status",
        "200",
        "GetRun",
        "get_run",
        &[("run_id", "$response.body#/run_id")],
    ),
    (
        "cancel_run",
        "200",
        "GetRun",
        "get_run",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "cancel_run",
        "200",
        "RetryRun",
        "retry_run",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "retry_run",
        "200",
        "GetRun",
        "get_run",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "retry_run",
        "200",
        "GetRunStatus",
        "get_run_status",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "retry_run",
        "200",
        "GetEvents",
        "get_events",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "retry_run",
        "200",
        "CancelRun",
        "cancel_run",
        &[("run_id", "$response.body#/id")],
    ),
    (
        "list_artifacts",
        "200",
        "DownloadArtifact",
        "download_artifact",
        &[
            ("run_id", "$request.path.run_id"),
            ("artifact_id", "$response.body#/items/0/id"),
        ],
    ),
];

/// The finished document, as JSON: the annotations' document plus the shared responses and the
/// links, with `sources` limited to `enabled_sources` (when there are any). (JSON because utoipa's
/// typed document does not read its own links back.)
pub fn finish(document: &utoipa::openapi::OpenApi, enabled_sources: &[String]) -> Value {
    let mut value = match serde_json::to_value(document) {
        Ok(value) => value,
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialise");
            return Value::Null;
        }
    };
    add_shared_responses(&mut value);
    headers_are_never_null(&mut value);
    add_links(&mut value);
    restrict_sources(&mut value, enabled_sources);
    value
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } }
    })
}

/// The operations of a document: (operation id, operation object).
fn operations(document: &mut Value) -> impl Iterator<Item = (String, &mut Map<String, Value>)> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
        .filter_map(|op| {
            let id = op.get("operationId")?.as_str()?.to_owned();
            Some((id, op))
        })
}

fn add_shared_responses(document: &mut Value) {
    for (id, op) in operations(document) {
        if UNAUTHENTICATED.contains(&id.as_str()) {
            continue;
        }
        let has_body = op.contains_key("requestBody");
        let params = op
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has_in = |place: &str| params.iter().any(|p| p["in"] == place);
        let mut reasons = vec!["an empty or malformed `X-Dev-*` identity header"];
        if has_body {
            reasons.push("a body that is not JSON");
        }
        if has_in("query") {
            reasons.push("a query parameter out of range or malformed");
        }
        if has_in("header") {
            reasons.push("a malformed header parameter");
        }
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        responses.insert(
            "400".into(),
            problem(&format!("Bad request: {}", reasons.join(", or "))),
        );
        responses
            .entry("401")
            .or_insert_with(|| problem("Not authenticated"));
        responses.entry("503").or_insert_with(|| {
            problem(
                "The database is unavailable right now, or the node is at its connection cap; \
                 retry after `Retry-After`",
            )
        });
        if has_body {
            responses
                .entry("408")
                .or_insert_with(|| problem("The body did not arrive within the body-read timeout"));
            responses
                .entry("413")
                .or_insert_with(|| problem("The body is larger than this server accepts"));
            responses.entry("415").or_insert_with(|| {
                problem(
                    "The body is not sent as `Content-Type: application/json`, or with a \
                     `Content-Encoding` other than `identity`",
                )
            });
            responses
                .entry("422")
                .or_insert_with(|| problem("Invalid fields (see `errors`)"));
        }
    }
}

/// An optional header is absent, never `null`: utoipa writes `Option<T>` as `T | null`.
fn headers_are_never_null(document: &mut Value) {
    for (_, op) in operations(document) {
        let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
            continue;
        };
        for parameter in parameters.iter_mut().filter(|p| p["in"] == "header") {
            let Some(types) = parameter
                .pointer_mut("/schema/type")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                if let Some(schema) = parameter.get_mut("schema") {
                    schema["type"] = only;
                }
            }
        }
    }
}

fn add_links(document: &mut Value) {
    for (id, op) in operations(document) {
        for (source, status, name, target, parameters) in LINKS {
            if *source != id {
                continue;
            }
            let Some(response) = op
                .get_mut("responses")
                .and_then(|r| r.get_mut(*status))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let parameters: Map<String, Value> = parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect();
            let links = response
                .entry("links")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(links) = links.as_object_mut() {
                links.insert(
                    (*name).to_owned(),
                    json!({ "operationId": target, "parameters": parameters }),
                );
            }
        }
    }
}

fn restrict_sources(document: &mut Value, enabled: &[String]) {
    if enabled.is_empty() {
        return;
    }
    let pointer = "/components/schemas/CreateRunBody/properties/sources/items";
    if let Some(items) = document.pointer_mut(pointer).and_then(Value::as_object_mut) {
        items.insert("enum".into(), json!(enabled));
    }
}
