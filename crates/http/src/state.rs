//! The one state type every handler receives ([`AppState`]) and the server's HTTP settings
//! ([`HttpConfig`]). External services are trait objects so tests inject fakes and handlers never
//! become generic over the database backend. Nothing here does I/O.

use researchops_core::{BlobStore, Store, TenantId};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use researchops_core::KNOWN_SOURCES;

/// HTTP settings.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Take the identity from `X-Dev-*` headers (local development only; loopback binds only).
    pub dev_bypass_auth: bool,
    /// Connectors runs may use here, e.g. `["local"]`; a subset of [`KNOWN_SOURCES`].
    pub enabled_sources: Vec<String>,
    /// Largest accepted request body (default 2 MiB); a larger announced `Content-Length` is refused
    /// with `413` before any of the body is read.
    pub max_body_bytes: usize,
    /// Time allowed to receive a whole request body once its headers arrived (default 30 s); a slower
    /// body is answered `408` and its connection closed.
    pub body_read_timeout: Duration,
    /// Interval of SSE keep-alive comments (default 15 s).
    pub sse_keepalive: Duration,
    /// Attempts a run's job gets, passed to `Store::create_run` and `Store::retry_run`.
    pub max_attempts: i32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            dev_bypass_auth: false,
            enabled_sources: vec!["local".to_owned()],
            max_body_bytes: 2 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            sse_keepalive: Duration::from_secs(15),
            max_attempts: 3,
        }
    }
}

/// Everything a request may need.
pub struct App {
    /// Tenant-scoped persistent state and the event hub.
    pub store: Arc<dyn Store>,
    /// Artifact bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// HTTP settings.
    pub config: HttpConfig,
    /// Cancelled when the server shuts down; open SSE streams end then.
    pub shutdown: CancellationToken,
    /// Tenants known to exist, so identifying a caller does no database write on the hot path.
    known_tenants: Mutex<HashSet<TenantId>>,
}

impl App {
    /// Bundles the services.
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn BlobStore>,
        config: HttpConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            blobs,
            config,
            shutdown,
            known_tenants: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `tenant` was already ensured by this process.
    pub(crate) fn tenant_known(&self, tenant: TenantId) -> bool {
        self.known_tenants
            .lock()
            .map(|set| set.contains(&tenant))
            .unwrap_or(false)
    }

    /// Remembers that `tenant` exists.
    pub(crate) fn remember_tenant(&self, tenant: TenantId) {
        if let Ok(mut set) = self.known_tenants.lock() {
            set.insert(tenant);
        }
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.store.backend())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The state handed to every handler: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<App>);

impl AppState {
    /// Wraps an [`App`].
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// Refuses `DEV_BYPASS_AUTH` on a non-loopback address.
pub fn check_bind_allowed(config: &HttpConfig, addr: &SocketAddr) -> Result<(), String> {
    if !config.dev_bypass_auth || addr.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "DEV_BYPASS_AUTH is enabled but the server would listen on {addr}; it is only allowed on a loopback address \
         (127.0.0.0/8, ::1, localhost)"
    ))
}

/// Like [`check_bind_allowed`] for a host as configured: `localhost`, `127.0.0.1`, `::1`, `[::1]:8080`,
/// `0.0.0.0:8000`, ….
pub fn check_bind_host_allowed(config: &HttpConfig, host: &str) -> Result<(), String> {
    if !config.dev_bypass_auth || is_loopback_host(host) {
        return Ok(());
    }
    Err(format!(
        "DEV_BYPASS_AUTH is enabled but the server would listen on `{host}`; it is only allowed on a loopback \
         address (127.0.0.0/8, ::1, localhost)"
    ))
}

/// Whether `host` (optionally with a port) names a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    // `name` or `name:port`.
    let name = match bare.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => bare,
    };
    name.eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bypass() -> HttpConfig {
        HttpConfig {
            dev_bypass_auth: true,
            ..HttpConfig::default()
        }
    }

    #[test]
    fn dev_bypass_is_allowed_only_on_loopback() {
        let ok: [&str; 6] = [
            "127.0.0.1:8000",
            "127.1.2.3:1",
            "[::1]:8000",
            "localhost",
            "localhost:8080",
            "::1",
        ];
        for host in ok {
            assert!(check_bind_host_allowed(&bypass(), host).is_ok(), "{host}");
        }
        for host in [
            "0.0.0.0:8000",
            "[::]:8000",
            "10.0.0.1",
            "example.com",
            "localhost.example.com:80",
        ] {
            assert!(check_bind_host_allowed(&bypass(), host).is_err(), "{host}");
        }
        let any: SocketAddr = "0.0.0.0:8000".parse().expect("addr");
        assert!(check_bind_allowed(&bypass(), &any).is_err());
        assert!(check_bind_allowed(&HttpConfig::default(), &any).is_ok());
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        assert!(check_bind_allowed(&bypass(), &lo).is_ok());
    }
}
