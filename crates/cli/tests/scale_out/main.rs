//! Scale-out on PostgreSQL, proven with real processes on loopback: API nodes and workers sharing one
//! database, workers killed with SIGKILL mid-stage, a worker paused past its lease.

#![expect(clippy::unwrap_used, reason = "tests")]

mod cluster;
mod copy_store;
mod crash;
mod fencing;
mod nodes;
mod restart;
