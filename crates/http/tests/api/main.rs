//! HTTP integration tests: the real router over a fresh SQLite store, one binary.

mod errors;
mod events;
mod helpers;
mod projects;
mod runs;
mod streams;
mod strictness;
