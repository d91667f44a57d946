#!/usr/bin/env bash
# Create (or refresh) the project's own virtual environment in .venv and install
# myoforce into it with its development extras, then the system libraries the desktop
# app needs (scripts/system-deps.sh). Idempotent: re-running is cheap when
# pyproject.toml has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "myoforce needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1 || echo none))." >&2
    exit 1
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    else
        echo "Python's venv module is missing: install python3-venv." >&2
        exit 1
    fi
fi

stamp=".venv/.myoforce-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if ! { [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
    echo "Setting up .venv (first run takes a minute) ..." >&2
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    echo "$want" > "$stamp"
fi

# the system libraries Qt's xcb platform needs (checked against the real plugin);
# arguments pass on (test.sh adds --xvfb)
bash scripts/system-deps.sh "$@"
