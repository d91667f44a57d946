"""``myoforce gui``: arguments, and --screenshot end to end in a subprocess (offscreen)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import build_parser

pytestmark = pytest.mark.gui

SHORT = """\
name: short
pulse_width_ms: 0.2
current_mA: 3.0
steps:
  - kind: twitch
    name: twitches
    count: 4
    interval_s: 0.3
  - kind: force_frequency
    name: force-frequency
    frequencies_hz: [20, 50, 100]
    duration_ms: 200
    rest_s: 1.0
"""


def test_arguments():
    args = build_parser().parse_args(["gui", "rec.h5", "--sim", "--muscle", "rat-soleus",
                                      "--protocol", "p.yaml", "--screenshot", "o.png"])
    assert args.file == "rec.h5" and args.sim and args.muscle == "rat-soleus"
    assert args.protocol == "p.yaml" and args.screenshot == "o.png" and callable(args.func)
    args = build_parser().parse_args(["gui"])
    assert args.file is None and not args.sim and args.muscle == "rat-edl" and args.screenshot is None


def test_screenshot_runs_the_sim_and_exits_cleanly(tmp_path):
    proto = tmp_path / "short.yaml"
    proto.write_text(SHORT)
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-m", "app.cli.main", "gui", "--screenshot", str(out),
                        "--protocol", str(proto), "--after-trials", "5"],
                       cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "screenshot written" in r.stdout
    from PySide6.QtGui import QImage
    img = QImage(str(out))
    assert img.width() == 1600 and img.height() == 1000
    # not a blank window: many distinct colours (trace, STOP button, table)
    colours = {img.pixel(x, y) for x in range(0, 1600, 16) for y in range(0, 1000, 16)}
    assert len(colours) > 20
    assert "propagateSizeHints" not in r.stderr


@pytest.mark.parametrize("argv, says", [
    (["--sim", "--muscle", "bogus"], "unknown muscle 'bogus'"),
    (["--protocol", "nofile.yaml"], "nofile.yaml: no such protocol file"),
])
def test_bad_muscle_or_protocol_is_one_line_before_any_window(tmp_path, capsys, argv, says):
    """Before: --muscle bogus with --screenshot waited for a rig that never connected;
    a missing --protocol was ignored and the screenshot 'written' anyway."""
    from app.cli.main import main
    out = tmp_path / "x.png"
    assert main(["gui", *argv, "--screenshot", str(out)]) == 1
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
