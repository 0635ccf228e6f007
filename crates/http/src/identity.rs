//! Who is calling, as extractors: [`Viewer`], [`Researcher`] and [`Admin`] each authenticate the request
//! and demand at least that role, so a route's permission is visible in its signature.
//!
//! Authentication fails closed: today the only source of identity is the development bypass
//! (`X-Dev-*` headers, when `dev_bypass_auth` is on); without it every protected route answers 401.
//! Bearer tokens and API keys plug into [`authenticate`] later. This module must not touch anything but
//! the tenant row (`ensure_tenant`, once per tenant per process).

use crate::error::{ApiError, excerpt};
use crate::state::{App, AppState};
use axum::extract::FromRequestParts;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use researchops_core::{ErrorCode, Identity, Role, TenantId};
use std::str::FromStr;

/// The development user when `X-Dev-User-Id` is absent.
pub const DEFAULT_DEV_USER: &str = "dev-user";
/// The development tenant when `X-Dev-Tenant-Id` is absent.
pub const DEFAULT_DEV_TENANT: &str = "00000000-0000-0000-0000-000000000001";

/// Header carrying the development user id.
pub const DEV_USER_HEADER: &str = "x-dev-user-id";
/// Header carrying the development tenant id.
pub const DEV_TENANT_HEADER: &str = "x-dev-tenant-id";
/// Header carrying the development roles (comma separated).
pub const DEV_ROLES_HEADER: &str = "x-dev-roles";

/// Authenticates a request: the one place credentials are read.
pub async fn authenticate(parts: &Parts, app: &App) -> Result<Identity, ApiError> {
    if app.config.dev_bypass_auth {
        let identity = dev_identity(&parts.headers)?;
        ensure_tenant(app, identity.tenant_id).await?;
        record_identity(&identity);
        return Ok(identity);
    }
    // Bearer JWTs (`Authorization: Bearer …`) and API keys (`X-API-Key`, `Authorization: ApiKey …`) are
    // verified here once they exist; until then nothing authenticates.
    Err(
        ApiError::new(ErrorCode::Unauthorized, "Authentication is required.")
            .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")),
    )
}

/// Creates the tenant the first time this process sees it; later calls do no I/O.
async fn ensure_tenant(app: &App, tenant: TenantId) -> Result<(), ApiError> {
    if app.tenant_known(tenant) {
        return Ok(());
    }
    app.store
        .ensure_tenant(tenant, &format!("dev tenant {tenant}"))
        .await?;
    app.remember_tenant(tenant);
    Ok(())
}

fn record_identity(identity: &Identity) {
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(identity.tenant_id));
    span.record("user_id", tracing::field::display(&identity.user_id));
}

/// A header's trimmed text; `None` when absent. More than one copy, or a value that is not visible
/// ASCII text, is a 400.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("The `{name}` header may be sent only once."),
        ));
    }
    value.to_str().map(|v| Some(v.trim())).map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("The `{name}` header is not valid text."),
        )
    })
}

/// A header that, when present, must not be empty: an empty value is a 400, not the default.
fn non_empty_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match header(headers, name)? {
        Some("") => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("The `{name}` header is empty; omit it to use the default."),
        )),
        other => Ok(other),
    }
}

/// The identity the `X-Dev-*` headers describe: defaults for absent headers, a 400 for an empty
/// user or tenant id (an empty role list means `viewer`). Messages quote at most an excerpt of a value.
pub fn dev_identity(headers: &HeaderMap) -> Result<Identity, ApiError> {
    let user_id = non_empty_header(headers, DEV_USER_HEADER)?
        .unwrap_or(DEFAULT_DEV_USER)
        .to_owned();
    let tenant = non_empty_header(headers, DEV_TENANT_HEADER)?.unwrap_or(DEFAULT_DEV_TENANT);
    let tenant_id = TenantId::from_str(tenant).map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "`X-Dev-Tenant-Id` must be a UUID, got `{}`.",
                excerpt(tenant)
            ),
        )
    })?;
    let roles = match header(headers, DEV_ROLES_HEADER)? {
        None => vec![Role::Viewer],
        Some(list) => parse_roles(list).map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("`X-Dev-Roles`: {}", excerpt(&e)),
            )
        })?,
    };
    Ok(Identity {
        tenant_id,
        user_id,
        roles,
    })
}

/// Parses a comma-separated role list; empty entries are skipped, an empty list means `viewer`.
pub fn parse_roles(list: &str) -> Result<Vec<Role>, String> {
    let mut roles = list
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(Role::from_str)
        .collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        roles.push(Role::Viewer);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Authenticates and demands `role`.
async fn require(parts: &Parts, state: &AppState, role: Role) -> Result<Identity, ApiError> {
    let identity = authenticate(parts, state).await?;
    if identity.has_role(role) {
        Ok(identity)
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "This action needs the `{}` role; you have `{}`.",
                role.as_str(),
                identity.highest_role().as_str()
            ),
        ))
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub Identity);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
                require(parts, state, $role).await.map($name)
            }
        }
    };
}

role_extractor!(
    /// An authenticated caller with any role: may read the tenant's data.
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// A caller who may start, cancel and retry runs and create or edit projects.
    Researcher,
    Role::Researcher
);
role_extractor!(
    /// A caller who administers the tenant (admin or owner): may delete projects.
    Admin,
    Role::Admin
);

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn roles_parse_with_defaults_and_reject_unknown_names() {
        assert_eq!(parse_roles("researcher"), Ok(vec![Role::Researcher]));
        assert_eq!(
            parse_roles(" Admin , viewer,,"),
            Ok(vec![Role::Viewer, Role::Admin])
        );
        assert_eq!(parse_roles(""), Ok(vec![Role::Viewer]));
        assert!(parse_roles("viewer,superuser").is_err());
    }

    #[test]
    fn dev_identity_uses_defaults_when_headers_are_absent() {
        let id = dev_identity(&HeaderMap::new()).expect("identity");
        assert_eq!(id.user_id, DEFAULT_DEV_USER);
        assert_eq!(id.tenant_id.to_string(), DEFAULT_DEV_TENANT);
        assert_eq!(id.roles, vec![Role::Viewer]);
    }

    #[test]
    fn dev_identity_reads_the_headers_and_rejects_bad_values() {
        let id = dev_identity(&headers(&[
            ("x-dev-user-id", "alice"),
            ("x-dev-tenant-id", "6f1c1a3e-8d0b-4b7e-9c39-1c2d3e4f5a6b"),
            ("x-dev-roles", "researcher"),
        ]))
        .expect("identity");
        assert_eq!(id.user_id, "alice");
        assert!(id.has_role(Role::Researcher) && !id.has_role(Role::Admin));

        let bad_tenant =
            dev_identity(&headers(&[("x-dev-tenant-id", "tenant-1")])).expect_err("rejected");
        assert_eq!(bad_tenant.code(), ErrorCode::BadRequest);
        let bad_role = dev_identity(&headers(&[("x-dev-roles", "root")])).expect_err("rejected");
        assert_eq!(bad_role.code(), ErrorCode::BadRequest);
    }

    #[test]
    fn an_empty_tenant_or_user_header_is_a_400_not_the_default() {
        for name in ["x-dev-tenant-id", "x-dev-user-id"] {
            for value in ["", "   "] {
                let err = dev_identity(&headers(&[(name, value)])).expect_err("empty");
                assert_eq!(err.code(), ErrorCode::BadRequest, "{name}: {value:?}");
            }
        }
        let mut twice = HeaderMap::new();
        twice.append(
            "x-dev-tenant-id",
            HeaderValue::from_static(DEFAULT_DEV_TENANT),
        );
        twice.append(
            "x-dev-tenant-id",
            HeaderValue::from_static("6f1c1a3e-8d0b-4b7e-9c39-1c2d3e4f5a6b"),
        );
        assert_eq!(
            dev_identity(&twice).expect_err("twice").code(),
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn error_details_quote_only_an_excerpt_of_a_long_header() {
        let mut map = HeaderMap::new();
        let long = "x".repeat(10_000);
        map.insert(
            "x-dev-tenant-id",
            HeaderValue::from_str(&long).expect("value"),
        );
        let err = dev_identity(&map).expect_err("not a uuid");
        assert!(err.detail().chars().count() < 300, "{}", err.detail().len());
        assert!(err.detail().contains('…'));
        map.remove("x-dev-tenant-id");
        map.insert("x-dev-roles", HeaderValue::from_str(&long).expect("value"));
        let err = dev_identity(&map).expect_err("unknown role");
        assert!(err.detail().chars().count() < 300, "{}", err.detail().len());
    }
}
