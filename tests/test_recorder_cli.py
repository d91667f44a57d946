"""``myoforce info``, ``verify`` and ``recover`` on good, corrupted and foreign files."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from app.cli.main import main
from app.recorder import open_session
from tests.helpers_recording import write_synthetic_session

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return write_synthetic_session(tmp_path_factory.mktemp("cli") / "s.h5", gaps=[(3000, 40)])


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_text_and_json(session, capsys):
    code, out, _ = cli(capsys, "info", session.path)
    assert code == 0
    assert re.search(r"^complete\s+yes; status complete$", out, re.M), out
    assert re.search(r"^gaps\s+1 \(40 samples missing; stream-gap: 40\)$", out, re.M), out
    assert "subject_id" in out and "rat-7" in out and "1 tetanus, 2 twitch" in out
    code, out, _ = cli(capsys, "info", "--json", session.path)
    info = json.loads(out)
    for key in ("format_version", "samples", "sample_rate_hz", "duration_s", "trials",
                "complete", "metadata", "gaps", "lost_samples"):
        assert key in info
    assert info["samples"] == session.force_mN.size and info["trials"] == 3
    assert info["complete"] is True and info["gaps"][0]["count"] == 40


def test_verify_ok(session, capsys):
    code, out, err = cli(capsys, "verify", session.path)
    assert code == 0 and out.startswith("OK ") and err == ""


def test_verify_detects_a_changed_sample(session, tmp_path, capsys):
    bad = tmp_path / "changed.h5"
    shutil.copy(session.path, bad)
    with h5py.File(bad, "r+") as f:
        f["force"][12345] = f["force"][12345] + np.float32(0.001)
    code, out, err = cli(capsys, "verify", bad)
    assert code == 1 and out == ""
    assert "CRC mismatch in force" in err and "12345" not in err.split("samples")[0]
    assert err.startswith(f"FAILED {bad}:")


def test_verify_detects_a_flipped_byte_on_disk(session, tmp_path, capsys):
    bad = tmp_path / "flipped.h5"
    shutil.copy(session.path, bad)
    with h5py.File(bad, "r") as f:
        offset = f["flags"].id.get_chunk_info(0).byte_offset
    with open(bad, "r+b") as fh:          # bit rot in the stored flags: a pulse appears
        fh.seek(offset + 777)
        fh.write(bytes([1]))
    code, _, err = cli(capsys, "verify", bad)
    assert code == 1
    assert "CRC mismatch in flags" in err and "/pulses" in err


def test_verify_detects_an_edited_gap(session, tmp_path, capsys):
    bad = tmp_path / "gap.h5"
    shutil.copy(session.path, bad)
    with h5py.File(bad, "r+") as f:
        f["force"][3010] = 1.0             # a number invented inside a gap
    code, _, err = cli(capsys, "verify", bad)
    assert code == 1 and "gaps must be NaN" in err


@pytest.mark.parametrize("kind", ["text", "empty", "foreign", "truncated"])
@pytest.mark.parametrize("command", ["info", "verify"])
def test_bad_files_one_line_no_traceback(session, tmp_path, capsys, kind, command):
    path = tmp_path / f"{kind}.h5"
    if kind == "text":
        path.write_text("time,force\n0,1\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "foreign":
        with h5py.File(path, "w") as f:
            f["data"] = np.arange(5)
            f.attrs["format"] = "something-else"
    else:
        shutil.copy(session.path, path)
        os.truncate(path, path.stat().st_size * 2 // 3)
    code, out, err = cli(capsys, command, path)
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in err, err
    assert lines[0].startswith(f"myoforce {command}: ")


def test_bad_file_through_the_real_entry_point(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    done = subprocess.run([sys.executable, "-m", "app.cli.main", "verify", str(path)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == f"myoforce verify: {path}: not an HDF5 file (no HDF5 " \
                                  "signature), so not a myoforce session file"


def test_recover_rules(session, tmp_path, capsys):
    out = tmp_path / "copy.h5"
    out.write_bytes(b"keep me")
    code, _, err = cli(capsys, "recover", session.path, out)
    assert code == 1 and "exists" in err and out.read_bytes() == b"keep me"
    code, _, err = cli(capsys, "recover", session.path, session.path)
    assert code == 1 and "new file" in err
    code, stdout, err = cli(capsys, "recover", session.path, out, "--overwrite")
    assert code == 0, err
    assert "already complete" in stdout
    with open_session(out) as sf:
        assert sf.complete and sf.status == "recovered"
        np.testing.assert_array_equal(sf.force[:], session.force_mN)
        assert [(g.sample, g.count) for g in sf.gaps] == [(3000, 40)]
        assert len(sf.trials) == 3
    code, stdout, _ = cli(capsys, "verify", out)
    assert code == 0
    leftovers = [p.name for p in tmp_path.iterdir() if "recovering" in p.name]
    assert leftovers == []


def test_h5dump_from_hdf5_1_10_reads_a_session(session):
    """The file stays readable by older HDF5 (MATLAB, HDFView): checked with h5dump."""
    if shutil.which("h5dump") is None:
        pytest.skip("h5dump (hdf5-tools) not installed")
    done = subprocess.run(["h5dump", str(session.path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"tetanus"' in done.stdout and "myoforce-session" in done.stdout
