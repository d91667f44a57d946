#!/usr/bin/env bash
# Set up .venv and run the whole test suite (Qt tests offscreen; one test starts the real
# app on the xcb platform under Xvfb). As root on Debian/Ubuntu it installs the system
# libraries Qt's xcb platform needs and Xvfb when missing (scripts/system-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-venv.sh --xvfb
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
