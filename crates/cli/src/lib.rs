//! The `researchops` binary's library half: configuration, wiring of the ports to their adapters,
//! and the commands. It holds no domain logic — that lives in the pipeline, worker, store and HTTP
//! crates — so integration tests can start exactly what the binary starts.

pub mod admin;
pub mod app;
pub mod bench;
pub mod config;
pub mod eval;
pub mod process;
pub mod research;
pub mod serve;
pub mod telemetry;
