#!/usr/bin/env bash
# Runs every test of the workspace from a fresh clone: formatting, then all unit, conformance and
# integration tests (real server processes over temporary SQLite data directories, and real
# PostgreSQL databases created and dropped per test).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

# PostgreSQL: the PostgreSQL backend's tests need a server on 127.0.0.1:5432 (trust auth).
# Install and start the local one if needed; in CI an unreachable server fails the run.
export RESEARCHOPS_TEST_PG_URL="${RESEARCHOPS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing PostgreSQL" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! (command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q); then
    if [ "${CI:-}" = "true" ]; then
        echo "error: PostgreSQL is not reachable on 127.0.0.1:5432; its tests cannot run" >&2
        exit 1
    fi
    echo "warning: PostgreSQL is not reachable on 127.0.0.1:5432; its tests will be skipped" >&2
fi

# moto: a local S3 API for the S3 blob-storage tests.
if ! command -v moto_server >/dev/null 2>&1; then
    echo "installing moto (local S3 emulator)" >&2
    python3 -m pip install -q 'moto[server]' || { [ "${CI:-}" = "true" ] && exit 1; }
fi

cargo fmt --all -- --check
cargo build --workspace --all-targets --locked
cargo nextest run --workspace --no-fail-fast --locked

# The API contract against a running server: schemathesis (pinned in the script), every check, with
# the stateful phase following the document's links. Installs schemathesis with pip if missing.
scripts/schemathesis.sh "${CARGO_TARGET_DIR:-target}/debug/researchops"
