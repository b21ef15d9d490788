#!/usr/bin/env bash
# Create (or refresh) <repo>/.venv-bqemulator holding the BigQuery emulator (PyPI bqemulator
# 1.4.0), pinned by requirements/bqemulator-constraints.txt.
#
# It needs its own venv: bqemulator 1.4.0 works only with duckdb 1.5.5 and the matching
# duckdb-extension-spatial / duckdb-extension-avro 1.5.5 wheels, while the project's venv holds
# duckdb 2. The tests start the emulator from here through tests/bqemulator.py, which also copies
# the two extension files into a throw-away $HOME/.duckdb/extensions/ (the emulator loads them
# at start and has no network to download them).
#
# Python: $COSTLAKE_BQEMULATOR_PYTHON if set, else python3 (bqemulator needs Python >= 3.11).
#
# Idempotent: a no-op when the venv already matches the constraints file (stamped by hash).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv-bqemulator"
CONSTRAINTS="$REPO_ROOT/requirements/bqemulator-constraints.txt"
STAMP="$VENV/.constraints.sha256"
PACKAGES=(bqemulator duckdb duckdb-extension-spatial duckdb-extension-avro numpy testcontainers)

die() {
    echo "setup_bqemulator_env: $*" >&2
    exit 1
}

# True when "$1" runs and is Python >= 3.11.
is_py311_plus() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate="${COSTLAKE_BQEMULATOR_PYTHON:-python3}"
    is_py311_plus "$candidate" ||
        die "$candidate is not a working Python >= 3.11;" \
            "install one or set COSTLAKE_BQEMULATOR_PYTHON=/path/to/python3.11"
    command -v "$candidate"
}

# True when the venv's emulator imports with the pinned DuckDB and both extension files.
emulator_works() {
    "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import pathlib
import sys

import bqemulator  # noqa: F401
import duckdb
import duckdb_extension_avro
import duckdb_extension_spatial
import numpy  # noqa: F401
import testcontainers  # noqa: F401

if duckdb.__version__ != "1.5.5":
    sys.exit(1)
for module in (duckdb_extension_spatial, duckdb_extension_avro):
    folder = pathlib.Path(module.__file__).parent / "extensions" / "v1.5.5"
    if not list(folder.glob("*.duckdb_extension")):
        sys.exit(1)
PY
}

[[ -f "$CONSTRAINTS" ]] || die "missing $CONSTRAINTS"
want_hash="$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)"

if [[ -x "$VENV/bin/bqemulator" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_hash" ]] &&
    emulator_works; then
    echo "bqemulator venv is up to date: $VENV"
    echo "emulator: $VENV/bin/bqemulator"
    exit 0
fi

if ! is_py311_plus "$VENV/bin/python" 2>/dev/null; then
    python="$(find_python)"
    echo "creating $VENV with $python ($("$python" --version 2>&1))"
    rm -rf "$VENV"
    "$python" -m venv "$VENV" || die "cannot create a venv with $python"
fi

rm -f "$STAMP"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    -c "$CONSTRAINTS" "${PACKAGES[@]}" ||
    die "pip could not install ${PACKAGES[*]} from $CONSTRAINTS"
[[ -x "$VENV/bin/bqemulator" ]] || die "bqemulator installed but $VENV/bin/bqemulator is missing"
emulator_works ||
    die "bqemulator installed but does not import with duckdb 1.5.5 and its two extension files"
echo "$want_hash" >"$STAMP"

echo "bqemulator venv ready: $VENV"
echo "emulator: $VENV/bin/bqemulator"
