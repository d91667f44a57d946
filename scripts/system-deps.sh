#!/usr/bin/env bash
# System libraries the project needs beyond its Python packages (Debian/Ubuntu).
#   bash scripts/system-deps.sh [--xvfb]
# Qt's base libraries, then every library the REAL xcb platform plugin of the installed
# PySide6 lacks (ldd on libqxcb.so, mapped to packages by app/gui/platform_check.py:
# Qt's own hint names the wrong package). --xvfb adds the X virtual framebuffer the GUI
# tests start the real app under. As root with apt-get: installs what is missing.
# Otherwise: names every missing package and goes on (the tests that need it skip).
set -euo pipefail
cd "$(dirname "$0")/.."

want=(libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
      libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
      libxcb-shape0 libxcb-xkb1 libxcb-randr0 libxcb-xfixes0 libxcb-sync1 libxcb-shm0)
[ "${1:-}" = "--xvfb" ] && want+=(xvfb xauth)

command -v dpkg-query >/dev/null || exit 0      # not Debian/Ubuntu: nothing we can check here

missing_of() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
    done
}

install_or_name() {
    [ $# -gt 0 ] || return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing system packages: $*" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "warning: missing system packages: $* (as root: apt-get install $*)" >&2
    fi
}

mapfile -t missing < <(missing_of "${want[@]}")
install_or_name "${missing[@]}"

# the real plugin decides: whatever it still cannot load
if [ -x .venv/bin/python ]; then
    read -r -a plugin_missing <<< "$(.venv/bin/python -m app.gui.platform_check --packages 2>/dev/null || true)"
    if [ ${#plugin_missing[@]} -gt 0 ]; then
        install_or_name "${plugin_missing[@]}"
    fi
fi
