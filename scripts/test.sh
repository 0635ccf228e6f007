#!/usr/bin/env bash
# Runs every test of the workspace from a fresh clone: formatting, then all unit, conformance and
# integration tests (real server processes over temporary SQLite data directories).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

cargo fmt --all -- --check
cargo build --workspace --all-targets --locked
cargo nextest run --workspace --no-fail-fast --locked
