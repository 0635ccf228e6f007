//! The HTTP API of ResearchOps Studio: axum routes, identity extractors, the problem+json error edge,
//! SSE event streams and the OpenAPI document.
//!
//! This crate owns the wire contract (`docs/API.md`; the served OpenAPI document is the reference) and
//! nothing below it: every read and write goes through [`researchops_core::Store`] /
//! [`researchops_core::BlobStore`]; business rules live in the core crate and the stores. [`router`]
//! builds the whole API with its middleware; [`openapi`] returns the generated document (also served at
//! `/openapi.json`, with Swagger UI at `/docs`).

pub mod body_limit;
pub mod error;
pub mod extract;
pub mod identity;
pub mod middleware;
pub mod openapi;
pub mod range;
pub mod routes;
pub mod server;
pub mod state;
pub mod strict_json;
pub mod validation;
pub mod views;

pub use error::{ApiError, Problem};
pub use identity::{Admin, Researcher, Viewer};
pub use server::{EdgeConfig, serve};
pub use state::{
    App, AppState, HttpConfig, KNOWN_SOURCES, check_bind_allowed, check_bind_host_allowed,
    is_loopback_host,
};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use body_limit::BodyLimits;
use routes::{artifacts, events, health, projects, runs};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// The route table: every documented route, in one place.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::health))
        .routes(routes!(health::readyz))
        .routes(routes!(projects::create_project, projects::list_projects))
        .routes(routes!(
            projects::get_project,
            projects::patch_project,
            projects::delete_project
        ))
        .routes(routes!(runs::create_run, runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::get_run_status))
        .routes(routes!(runs::get_run_output))
        .routes(routes!(runs::get_run_context))
        .routes(routes!(runs::get_run_evidence))
        .routes(routes!(runs::get_run_claims))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(runs::retry_run))
        .routes(routes!(events::get_events))
        .routes(routes!(artifacts::list_artifacts))
        .routes(routes!(artifacts::download_artifact))
}

/// The OpenAPI 3.1 document of every route (as JSON), for a server that enables every known source.
pub fn openapi() -> serde_json::Value {
    let known: Vec<String> = KNOWN_SOURCES.iter().map(|s| (*s).to_owned()).collect();
    openapi::finish(&api_router().into_openapi(), &known)
}

/// The whole API with its middleware (see [`with_middleware`]).
pub fn router(state: AppState) -> Router {
    let limits = BodyLimits {
        max_bytes: state.config.max_body_bytes,
        read_timeout: state.config.body_read_timeout,
    };
    let (api, document) = api_router().split_for_parts();
    let document = openapi::finish(&document, &state.config.enabled_sources);
    let app = api
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", document))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .with_state(state);
    with_middleware(app, limits)
}

/// Wraps routes in the middleware stack, from the outside in: request-id sanity check → `X-Request-ID`
/// set and propagated → trace span → problem+json finishing → panic catching → announced-length `413`
/// and body-read deadline → streamed body limit.
fn with_middleware(routes: Router, limits: BodyLimits) -> Router {
    let layers = ServiceBuilder::new()
        .layer(axum::middleware::map_request(
            middleware::sanitize_request_id,
        ))
        .layer(SetRequestIdLayer::x_request_id(middleware::NewRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(middleware::request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(axum::middleware::from_fn(middleware::finish_problems))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            body_limit::limit_body,
        ))
        .layer(DefaultBodyLimit::max(limits.max_bytes));
    routes.layer(layers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_an_opaque_500_problem_with_the_request_id() {
        async fn boom() -> &'static str {
            panic!("secret detail")
        }
        let limits = BodyLimits {
            max_bytes: 1024,
            read_timeout: std::time::Duration::from_secs(5),
        };
        let app = with_middleware(Router::new().route("/boom", get(boom)), limits);
        let request = Request::get("/boom")
            .header("x-request-id", "abc")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], "abc");
        assert_eq!(response.headers()["content-type"], error::PROBLEM_JSON);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(problem["status"], 500);
        assert_eq!(problem["request_id"], "abc");
        assert!(!problem.to_string().contains("secret"));
    }
}
