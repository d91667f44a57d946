"""The real desktop app on a real X server (Xvfb), not only Qt's offscreen platform, and
``myoforce gui`` refusing what it cannot do with one line instead of a Qt abort.

Xvfb and the libraries Qt's xcb platform needs are installed by ``scripts/test.sh``
(``scripts/system-deps.sh --xvfb``); where they are missing the Xvfb tests skip saying so.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.gui.platform_check import debian_package, display_problem, missing_libraries

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[1]
SHORT = """\
name: short
pulse_width_ms: 0.2
current_mA: 3.0
steps:
  - {kind: twitch, name: twitches, count: 3, interval_s: 0.3}
"""


def _myoforce(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def xvfb():
    """A private Xvfb server; yields the environment that points Qt's xcb platform at it."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (bash scripts/test.sh installs it as root)")
    missing = missing_libraries()
    if missing:
        pytest.skip(f"Qt's xcb platform lacks {', '.join(missing)} (bash scripts/test.sh installs them as root)")
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1700x1100x24",
                             "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb")
    yield env
    proc.terminate()
    proc.wait(10)


def test_readme_gui_command_comes_up_under_xvfb(xvfb):
    """``myoforce gui --sim`` (README) starts on the xcb platform and stays up."""
    assert display_problem(xvfb) is None
    proc = subprocess.Popen([sys.executable, "-m", "app.cli.main", "gui", "--sim"], cwd=ROOT,
                            env=xvfb, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert alive, f"the app exited (code {proc.returncode}): {err[-1500:]}"
    assert "could not load the Qt platform plugin" not in err


def test_readme_xvfb_run_line_brings_up_the_app(tmp_path):
    """README: ``xvfb-run -a myoforce gui --sim`` on a machine without a display."""
    if shutil.which("xvfb-run") is None or shutil.which("xauth") is None:
        pytest.skip("xvfb-run/xauth not installed (bash scripts/test.sh installs them as root)")
    if missing_libraries():
        pytest.skip("Qt's xcb platform libraries are missing (bash scripts/test.sh installs them)")
    import signal
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.Popen(["xvfb-run", "-a", sys.executable, "-m", "app.cli.main", "gui", "--sim"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        time.sleep(8)
        alive = proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert alive, f"exited with {proc.returncode}: {err[-1500:]}"
    assert "no display" not in err and "could not load the Qt platform plugin" not in err


def test_screenshot_of_a_protocol_on_the_xcb_platform(xvfb, tmp_path):
    proto = tmp_path / "short.yaml"
    proto.write_text(SHORT)
    out = tmp_path / "shot.png"
    r = _myoforce("gui", "--screenshot", str(out), "--protocol", str(proto), "--after-trials", "2",
                  env=xvfb)
    assert r.returncode == 0, r.stderr[-2000:]
    from PySide6.QtGui import QImage
    img = QImage(str(out))
    assert img.width() == 1600 and img.height() == 1000
    assert len({img.pixel(x, y) for x in range(0, 1600, 16) for y in range(0, 1000, 16)}) > 20


def test_without_a_display_one_line_not_an_abort(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    r = _myoforce("gui", "--screenshot", str(tmp_path / "x.png"), env=env, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0]
    env["DISPLAY"] = ":987"                      # nothing listens there
    r = _myoforce("gui", env=env, timeout=60)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot connect to the X display ':987'" in r.stderr or "xcb platform cannot load" in r.stderr


def test_missing_or_foreign_files_are_refused_before_any_window(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    for args in (["gui", str(tmp_path / "nofile.h5")],
                 ["gui", str(tmp_path / "nofile.h5"), "--screenshot", str(tmp_path / "x.png")]):
        r = _myoforce(*args, env=env, timeout=60)
        assert r.returncode == 1 and r.stderr.strip() == f"myoforce gui: {tmp_path / 'nofile.h5'}: no such file"
        assert not (tmp_path / "x.png").exists()
    foreign = tmp_path / "notes.h5"
    foreign.write_text("not hdf5")
    r = _myoforce("gui", str(foreign), env=env, timeout=60)
    assert r.returncode == 1 and "not an HDF5 file" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_debian_package_names_follow_the_sonames():
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libdbus-1.so.3") == "libdbus-1-3"
    assert debian_package("libglib-2.0.so.0") == "libglib2.0-0"


def test_a_damaged_file_gets_one_dialog_and_no_empty_tab(qtbot, tmp_path):
    from app.gui.app import ensure_app
    from app.gui.main_window import MainWindow
    ensure_app()
    bad = tmp_path / "damaged.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)     # an HDF5 signature, nothing behind it
    win = MainWindow()
    qtbot.addWidget(win)
    shown = []
    win.report_error = lambda title, text: shown.append((title, text))
    win.open_file(bad)
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert len(shown) == 1 and str(bad) in shown[0][1] and "\n" not in shown[0][1]
    assert win.tabs.count() == 1 and not win.replays            # only Acquire: no empty tab
    win.close()


def test_screenshot_of_a_damaged_file_is_one_line(tmp_path):
    bad = tmp_path / "damaged.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = _myoforce("gui", str(bad), "--screenshot", str(tmp_path / "x.png"), env=env, timeout=60)
    assert r.returncode == 1 and not (tmp_path / "x.png").exists()
    lines = [l for l in r.stderr.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("myoforce gui: ") and str(bad) in lines[0]
