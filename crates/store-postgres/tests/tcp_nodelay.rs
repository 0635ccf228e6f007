//! Guards the patched `vendor/sqlx-core`: every connection to PostgreSQL must set `TCP_NODELAY`.
//! Without it a TLS handshake took ~90 ms and any query over 16 KiB ~44 ms (Nagle's algorithm
//! waiting for the server's delayed ACK); a sqlx upgrade that drops the fix must fail this test.
//!
//! The test inspects this process's own sockets: each file descriptor that is a TCP socket
//! connected to the server's port is duplicated through `pidfd_getfd` (Linux ≥ 5.6) and its
//! `TCP_NODELAY` option read. A control socket opened without the option proves the probe can
//! tell the difference.

mod support;

use researchops_core::Store;
use researchops_store_postgres::PgOptions;
use rustix::net::sockopt;
use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};
use sqlx::{Connection, PgConnection};
use std::net::SocketAddr;

/// `TCP_NODELAY` of every TCP socket of this process connected to `port`.
fn nodelay_of_sockets_to(port: u16) -> Vec<bool> {
    let pidfd = pidfd_open(getpid(), PidfdFlags::empty()).expect("pidfd_open on ourselves");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let entry = entry.expect("fd entry");
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // closed meanwhile
        };
        if !target.to_string_lossy().starts_with("socket:") {
            continue;
        }
        let Some(number) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(fd) = pidfd_getfd(&pidfd, number, PidfdGetfdFlags::empty()) else {
            continue; // closed meanwhile
        };
        let peer = match rustix::net::getpeername(&fd) {
            Ok(Some(peer)) => SocketAddr::try_from(peer).ok(),
            _ => None,
        };
        if peer.is_some_and(|peer| peer.port() == port) {
            found.push(sockopt::tcp_nodelay(&fd).expect("read TCP_NODELAY"));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_to_postgres_sets_tcp_nodelay() {
    let db = support::fresh_database().await;
    let port = 5432;
    assert!(
        db.url.contains(&format!(":{port}/")),
        "the test server is expected on port {port}: {}",
        db.url
    );

    // Control: a plain socket to the same port reads `false`, so the probe can fail.
    let control = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("control connection");
    assert_eq!(
        nodelay_of_sockets_to(port),
        vec![false],
        "the probe sees the control socket"
    );
    drop(control);

    // The store's pool (TLS negotiated as the URL says), its LISTEN connection, and a direct
    // connection with TLS required.
    let (store, _db2) = support::fresh_store(PgOptions::default()).await;
    store.ping().await.expect("ping");
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let mut tls = PgConnection::connect(&format!("{}{separator}sslmode=require", db.url))
        .await
        .expect("TLS connection");
    sqlx::query("SELECT 1")
        .execute(&mut tls)
        .await
        .expect("query");

    let sockets = nodelay_of_sockets_to(port);
    assert!(
        sockets.len() >= 2,
        "found the store's and the TLS connection's sockets: {sockets:?}"
    );
    assert!(
        sockets.iter().all(|&nodelay| nodelay),
        "every PostgreSQL connection sets TCP_NODELAY: {sockets:?}"
    );
    tls.close().await.expect("close");
    store.close().await;
}
