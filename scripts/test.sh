#!/usr/bin/env bash
# Set up .venv and run the whole test suite (Qt tests offscreen).
# On a bare Debian/Ubuntu run as root, installs the few system libraries Qt needs.
set -euo pipefail
cd "$(dirname "$0")/.."

qt_libs=(libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0)
if command -v dpkg-query >/dev/null; then
    missing=()
    for p in "${qt_libs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "Installing system libraries for Qt: ${missing[*]}" >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "warning: missing system libraries for Qt (${missing[*]}); run as root or install them." >&2
        fi
    fi
fi

bash scripts/setup-venv.sh
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
