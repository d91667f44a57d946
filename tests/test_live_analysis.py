"""A session file can be summarised and analysed while `myoforce run` is still writing it.

The run lasts about 15 s so that a loaded machine (each `info`/`analyze` process takes
seconds to start there) still catches it live more than once."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MYOFORCE = [sys.executable, "-m", "app.cli.main"]

PROTOCOL = """\
format_version: 1
name: live-read
pulse_width_ms: 0.2
steps:
  - kind: twitch
    name: twitches
    count: 24
    interval_s: 0.6
    current_mA: 3.0
"""


def _json(args: list[str], *, must: bool = False) -> dict | None:
    """The command's JSON; None if it failed (e.g. the file does not exist yet), unless
    ``must``: then its error line fails the test."""
    out = subprocess.run(MYOFORCE + args, cwd=REPO, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        assert not must, f"myoforce {' '.join(args)}: {out.stderr.strip()}"
        return None
    return json.loads(out.stdout.splitlines()[0])


def test_info_and_analysis_of_a_file_still_being_written(tmp_path):
    protocol = tmp_path / "live.yaml"
    protocol.write_text(PROTOCOL)
    out = tmp_path / "live.h5"
    run = subprocess.Popen(MYOFORCE + ["run", str(protocol), "--sim", "--yes", "--seed", "3",
                                       "--out", str(out), "--subject", "live-01"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    live_views: list[tuple[dict, dict]] = []
    try:
        deadline = time.monotonic() + 90
        while run.poll() is None and time.monotonic() < deadline and len(live_views) < 2:
            info = _json(["info", str(out), "--json"]) if out.exists() else None
            if info and not info["complete"] and info["trials"] >= 2:
                analysis = _json(["analyze", str(out), "--json"])
                # the file exists and is being written (or just finished): info must read it
                if analysis and not _json(["info", str(out), "--json"], must=True)["complete"]:
                    live_views.append((info, analysis))
            time.sleep(0.3)
    finally:
        run.wait(120)
    assert run.returncode == 0, run.stderr[-2000:] if run.stderr else ""
    assert live_views, "never caught the file while it was being written"
    for info, analysis in live_views:
        twitches = [t for t in analysis["trials"] if t["kind"] == "twitch" and not t["error"]]
        assert len(twitches) >= 2
        for t in twitches:       # rat EDL preset at a supramaximal 3 mA
            assert 300 < t["peak_force_mN"] < 1000
            assert 8 < t["time_to_peak_ms"] < 25
    final = _json(["info", str(out), "--json"])
    assert final["complete"] and final["trials"] == 24
    assert final["trials"] > live_views[0][0]["trials"]
