//! HTTP integration tests: the real server over a fresh SQLite data directory, driven over HTTP.

#![expect(clippy::unwrap_used, reason = "tests")]

mod edge;
mod errors;
mod events;
mod helpers;
mod projects;
mod runs;
