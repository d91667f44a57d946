"""Can Qt show a window here? Checked before a QApplication exists, so that a missing
display or a missing system library gives one line saying what to do instead of Qt's
abort (exit 134) with a hint that names the wrong package.

The check uses the real xcb platform plugin shipped with PySide6: ``ldd`` lists every
shared library it (and ``libQt6XcbQpa``) cannot find, and :func:`debian_package` turns
each soname into the Debian/Ubuntu package that holds it. ``scripts/system-deps.sh``
asks this module (``python -m app.gui.platform_check --packages``) which packages to
install, so the rule lives in one place. Nothing here imports Qt's GUI modules.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: platforms that need no display server
HEADLESS = {"offscreen", "minimal", "vnc", "linuxfb", "eglfs", "minimalegl"}

#: sonames whose Debian package does not follow the soname rule
_PACKAGE_EXCEPTIONS = {
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libOpenGL.so.0": "libopengl0",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0", "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
}

#: Debian packages of the tools the GUI tests use to run the real xcb platform
XVFB_PACKAGES = ("xvfb", "xauth")


def debian_package(soname: str) -> str:
    """Debian package that holds ``soname`` (Debian policy 8.1: ``libfoo.so.N`` is in
    ``libfooN``, or ``libfoo-N`` when foo ends in a digit; lower case)."""
    if soname in _PACKAGE_EXCEPTIONS:
        return _PACKAGE_EXCEPTIONS[soname]
    m = re.fullmatch(r"(lib[^/]+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if not m:
        return soname
    name, major = m.group(1).lower(), m.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def xcb_plugin() -> Path | None:
    """The xcb platform plugin of the installed PySide6 (None if PySide6 is missing)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Sonames the xcb plugin needs and the system lacks (sorted, no duplicates)."""
    plugin = plugin or xcb_plugin()
    if plugin is None or not sys.platform.startswith("linux"):
        return []
    if shutil.which("ldd"):
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
        return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:   # names the first missing library only
        m = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open", str(exc))
        return [m.group(1)] if m else [str(exc)]
    return []


def missing_packages(plugin: Path | None = None) -> list[str]:
    return sorted({debian_package(s) for s in missing_libraries(plugin)})


def _x_display_reachable(display: str) -> bool:
    """True if an X server answers on ``display`` (libxcb's own connect, no Qt)."""
    name = ctypes.util.find_library("xcb")
    if not name:
        return True          # cannot tell; let Qt try
    xcb = ctypes.CDLL(name)
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


OFFSCREEN_HINT = "or set QT_QPA_PLATFORM=offscreen for --screenshot"


def display_problem(environ: dict[str, str] | None = None) -> str | None:
    """One line saying why Qt cannot open a window here, or None when it can."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if platform in HEADLESS:
        return None
    if platform.startswith("wayland") or (not platform and env.get("WAYLAND_DISPLAY")
                                          and not env.get("DISPLAY")):
        return None if env.get("WAYLAND_DISPLAY") else (
            f"no Wayland display (WAYLAND_DISPLAY is not set): run it in a desktop session, {OFFSCREEN_HINT}")
    display = env.get("DISPLAY", "")
    if not display:
        return ("no display (DISPLAY is not set): run it in a desktop session or under "
                f"xvfb-run, {OFFSCREEN_HINT}")
    packages = missing_packages()
    if packages:
        libs = ", ".join(missing_libraries())
        return (f"Qt's xcb platform cannot load ({libs} missing): install them with "
                f"`apt-get install {' '.join(packages)}` (or bash scripts/setup-venv.sh as root), "
                f"{OFFSCREEN_HINT}")
    if not _x_display_reachable(display):
        return f"cannot connect to the X display {display!r}: is the X server running? {OFFSCREEN_HINT}"
    return None


def main(argv: list[str] | None = None) -> int:
    """``--packages``: print the Debian packages the xcb plugin lacks (one line, may be empty)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--packages"]:
        print(" ".join(missing_packages()))
        return 0
    problem = display_problem()
    print(problem or "ok")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
