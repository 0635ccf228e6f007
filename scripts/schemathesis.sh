#!/usr/bin/env bash
# Runs schemathesis (every check, every phase including the stateful one that follows the document's
# links) against a real `researchops serve` on a temporary data directory with the sample corpus, and
# fails on any failure. Called by scripts/test.sh after the workspace build; runnable on its own:
#
#   scripts/schemathesis.sh [path/to/researchops] [extra schemathesis options…]
#
# Bounded for 2 cores: a fixed seed, 100 examples per operation, one worker (about 30 s). The caller is
# an admin (`X-Dev-Roles`) so every operation, DELETE included, is reachable. SCHEMATHESIS_SEED and
# SCHEMATHESIS_MAX_EXAMPLES override the seed and the example count.
set -euo pipefail
cd "$(dirname "$0")/.."

# The version this contract was last brought to zero failures with; bump deliberately.
SCHEMATHESIS_VERSION="4.32.5"

binary="${1:-${CARGO_TARGET_DIR:-target}/debug/researchops}"
shift || true
if [ ! -x "$binary" ]; then
    echo "error: $binary is not built (run cargo build --bin researchops first)" >&2
    exit 1
fi

if [ "$(schemathesis --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION" >&2
    python3 -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

workdir="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
RESEARCHOPS_DATA_DIR="$workdir/data" \
    RESEARCHOPS_CORPUS="samples/scifact/corpus.jsonl" \
    DEV_BYPASS_AUTH=true \
    API_HOST=127.0.0.1 API_PORT="$port" \
    RUST_LOG="${RUST_LOG:-warn}" \
    "$binary" serve >"$workdir/server.log" 2>&1 &
server_pid=$!

base="http://127.0.0.1:$port"
for _ in $(seq 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$workdir/server.log" >&2
        echo "error: the server exited before answering" >&2
        exit 1
    fi
    sleep 0.1
done

status=0
# From the temporary directory, so schemathesis' and Hypothesis' own state stays out of the repository.
(cd "$workdir" && schemathesis run "$base/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --header "X-Dev-Roles: admin" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
    --seed "${SCHEMATHESIS_SEED:-20261203}" \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    "$@") || status=$?
if [ "$status" != 0 ]; then
    echo "schemathesis failed (exit $status); server log tail:" >&2
    tail -n 40 "$workdir/server.log" >&2
fi
exit "$status"
