#!/usr/bin/env bash
# Create (or refresh) <repo>/.venv-validator holding the public FOCUS validator
# (PyPI focus-validator 2.2.1), pinned by requirements/validator-constraints.txt.
#
# It needs its own venv: focus-validator requires Python >= 3.12 and numpy<2, while the
# project's venv is Python 3.11. The tests find it through tests/focus_validator.py.
#
# Python: $COSTLAKE_VALIDATOR_PYTHON if set, else the first working python3.12 / python3.13
# (on PATH, then pyenv's versions folder). 3.12 is preferred: numpy 1.26 (pinned) has no
# wheel for 3.13, which means a slow source build there.
#
# Idempotent: a no-op when the venv already matches the constraints file (stamped by hash).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv-validator"
CONSTRAINTS="$REPO_ROOT/requirements/validator-constraints.txt"
STAMP="$VENV/.constraints.sha256"

die() {
    echo "setup_validator_env: $*" >&2
    exit 1
}

# True when "$1" runs and is Python >= 3.12.
is_py312_plus() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
    if [[ -n "${COSTLAKE_VALIDATOR_PYTHON:-}" ]]; then
        is_py312_plus "$COSTLAKE_VALIDATOR_PYTHON" ||
            die "COSTLAKE_VALIDATOR_PYTHON=$COSTLAKE_VALIDATOR_PYTHON is not a working Python >= 3.12"
        echo "$COSTLAKE_VALIDATOR_PYTHON"
        return
    fi
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}" candidate
    # A pyenv shim on PATH fails unless its version is selected, hence the version check and
    # the fallback to pyenv's interpreters themselves.
    for candidate in python3.12 \
        "$pyenv_root"/versions/3.12*/bin/python3.12 \
        python3.13 \
        "$pyenv_root"/versions/3.13*/bin/python3.13; do
        if is_py312_plus "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
    die "no Python >= 3.12 found (tried python3.12, python3.13 and $pyenv_root/versions/3.1[23]*);" \
        "install one or set COSTLAKE_VALIDATOR_PYTHON=/path/to/python3.12"
}

[[ -f "$CONSTRAINTS" ]] || die "missing $CONSTRAINTS"
want_hash="$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)"

if [[ -x "$VENV/bin/focus-validator" && -f "$STAMP" && "$(cat "$STAMP")" == "$want_hash" ]] &&
    is_py312_plus "$VENV/bin/python"; then
    echo "focus-validator venv is up to date: $VENV"
    echo "validator: $VENV/bin/focus-validator"
    exit 0
fi

if ! is_py312_plus "$VENV/bin/python" 2>/dev/null; then
    python="$(find_python)"
    echo "creating $VENV with $python ($("$python" --version 2>&1))"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
fi

rm -f "$STAMP"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    -c "$CONSTRAINTS" focus-validator pyarrow
# An import, not `focus-validator --help`: running it writes a debug log into the cwd.
"$VENV/bin/python" -c "import focus_validator.main, pyarrow, numpy" ||
    die "focus-validator installed but does not import"
echo "$want_hash" >"$STAMP"

echo "focus-validator venv ready: $VENV"
echo "validator: $VENV/bin/focus-validator"
