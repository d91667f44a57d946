"""Operator comments: one rule for the text, written through the recorder's audit log
during a run (crash-safe: a writer that dies keeps them), added afterwards with
'myoforce annotate --comment --at' (marked so, nothing written on a refusal), listed by
'myoforce info' (and --json)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.errors import UserError
from app.recorder.comments import (MAX_COMMENT_CHARS, Comment, add_comment_afterwards,
                                   read_comments, record_comment, validate_comment)
from tests.helpers_recording import open_recorder, ramp_blocks
from tests.helpers_cli import run_cli as run

REPO = Path(__file__).resolve().parents[1]
RATE = 1_000.0


@pytest.mark.parametrize("text, words", [
    ("", "comment is empty"),
    ("   \t ", "comment is empty"),
    ("re-tied\ntendon", "one line"),
    ("re-tied\rtendon", "one line"),
    ("bell\x07", "control character"),
    ("x" * (MAX_COMMENT_CHARS + 1), f"at most {MAX_COMMENT_CHARS}"),
    (None, "must be text"),
])
def test_bad_comment_text_is_one_clear_line(text, words):
    with pytest.raises(UserError) as exc:
        validate_comment(text)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_comment_text_is_kept_as_typed_but_trimmed():
    assert validate_comment("  extra anaesthetic 0.05 ml ") == "extra anaesthetic 0.05 ml"
    assert validate_comment("x" * MAX_COMMENT_CHARS) == "x" * MAX_COMMENT_CHARS
    assert validate_comment("Länge auf 32 mm") == "Länge auf 32 mm"


def _recorded(path: Path) -> list[Comment]:
    """A 3 s recording with two comments made during it (at 1 s and 2 s)."""
    rec = open_recorder(path, RATE)
    made = []
    blocks = list(ramp_blocks(3000, 100, RATE))
    for b in blocks:
        rec.put_block(b)
        if b.first_sample + len(b.force_mN) in (1000, 2000):
            text = "re-tied tendon" if not made else "length adjusted to 32 mm"
            made.append(record_comment(rec, text))
    with pytest.raises(UserError, match="comment is empty"):
        record_comment(rec, " ")                       # refused: nothing written
    rec.close()
    with pytest.raises(UserError, match="no recording is running"):
        record_comment(rec, "too late")                # after close: refused, not dropped
    return made


def test_comments_made_during_a_run_read_back_at_their_samples(tmp_path):
    path = tmp_path / "s.h5"
    made = _recorded(path)
    assert [c.sample for c in made] == [1000, 2000]
    got = read_comments(path)
    assert [(c.sample, c.text, c.added_afterwards) for c in got] == [
        (1000, "re-tied tendon", False), (2000, "length adjusted to 32 mm", False)]
    assert [c.time_utc for c in got] == [c.time_utc for c in made]
    assert got[0].time_utc.endswith("+00:00") and got[0].time_s(RATE) == 1.0


def test_a_comment_survives_a_writer_that_dies(tmp_path):
    """The process dies (no close) after a flush: the comment is in the crashed file."""
    path = tmp_path / "crash.h5"
    script = textwrap.dedent(f"""
        import os, time
        from app.recorder.comments import record_comment
        from tests.helpers_recording import open_recorder, ramp_blocks
        rec = open_recorder({str(path)!r}, {RATE}, flush_interval_s=0.05)
        for b in ramp_blocks(2000, 100, {RATE}):
            rec.put_block(b)
            if b.first_sample == 900:
                record_comment(rec, "extra anaesthetic 0.05 ml")
        end = time.monotonic() + 30
        while rec.samples_flushed < 2000 and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.2)
        os._exit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    from app.recorder.reader import session_info
    info = session_info(path)
    assert info["complete"] is False
    assert [(c["sample"], c["text"]) for c in info["comments"]] == [
        (1000, "extra anaesthetic 0.05 ml")]
    # 'myoforce recover' copies it into the clean file, and a comment can then be added
    from app.recorder.recover import recover_session
    clean = tmp_path / "clean.h5"
    recover_session(path, clean)
    add_comment_afterwards(clean, "writer died here", 1.9)
    assert [(c.sample, c.text, c.added_afterwards) for c in read_comments(clean)] == [
        (1000, "extra anaesthetic 0.05 ml", False), (1900, "writer died here", True)]


def test_annotate_adds_a_comment_afterwards_and_info_lists_it(capsys, tmp_path):
    path = tmp_path / "s.h5"
    _recorded(path)
    code, out, err = run(capsys, "annotate", path, "--comment", " bubble in bath ", "--at", "2.5")
    assert code == 0, err
    assert "sample 2500" in out and "added afterwards" in out
    got = read_comments(path)
    assert [(c.sample, c.text, c.added_afterwards) for c in got] == [
        (1000, "re-tied tendon", False), (2000, "length adjusted to 32 mm", False),
        (2500, "bubble in bath", True)]
    assert got[2].source == "annotate"
    code, out, _ = run(capsys, "info", path, "--json")
    info = json.loads(out)
    assert [(c["time_s"], c["text"], c["added_afterwards"]) for c in info["comments"]] == [
        (1.0, "re-tied tendon", False), (2.0, "length adjusted to 32 mm", False),
        (2.5, "bubble in bath", True)]
    code, out, _ = run(capsys, "info", path)
    lines = [ln for ln in out.splitlines() if ln.startswith("comment")]
    assert len(lines) == 3
    assert "0:01.000  re-tied tendon" in lines[0] and "added afterwards" not in lines[0]
    assert "0:02.500  bubble in bath (added afterwards, annotate)" in lines[2]


def test_annotate_metadata_and_comment_together(capsys, tmp_path):
    path = tmp_path / "s.h5"
    _recorded(path)
    code, out, err = run(capsys, "annotate", path, "muscle_mass_mg=160", "--comment",
                         "muscle weighed", "--at", "0", "--source", "balance")
    assert code == 0, err
    info = json.loads(run(capsys, "info", path, "--json")[1])
    assert info["metadata"]["muscle_mass_mg"] == 160.0
    assert info["comments"][0] == {**info["comments"][0], "sample": 0, "source": "balance",
                                   "added_afterwards": True}


@pytest.mark.parametrize("argv, words", [
    (["--comment", "x", "--at", "3.5"], "outside the recording (0 to 3.000 s)"),
    (["--comment", "x", "--at", "-1"], "outside the recording"),
    (["--comment", "x", "--at", "nan"], "finite time"),
    (["--comment", "x"], "--comment needs --at"),
    (["--at", "1"], "give --comment TEXT"),
    (["--comment", "", "--at", "1"], "comment is empty"),
    (["--comment", "a\nb", "--at", "1"], "one line"),
    (["--comment", "x", "--at", "soon"], "soon"),
    (["muscle_weight=1", "--comment", "x", "--at", "1"], "unknown metadata field"),
    ([], "nothing to annotate"),
])
def test_bad_annotate_comment_is_refused_and_nothing_is_written(capsys, tmp_path, argv, words):
    path = tmp_path / "s.h5"
    _recorded(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    code, out, err = run(capsys, "annotate", path, *argv)
    assert code != 0 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_file_still_being_recorded_gets_no_comment_afterwards(tmp_path):
    path = tmp_path / "open.h5"
    rec = open_recorder(path, RATE)
    try:
        for b in ramp_blocks(1000, 100, RATE):
            rec.put_block(b)
        with pytest.raises(UserError, match="still being recorded"):
            add_comment_afterwards(path, "late", 0.5)
    finally:
        rec.close()
    assert read_comments(path) == []
