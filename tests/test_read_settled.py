"""A read of a session file that fails while the file changes on disk (its writer
flushing or closing it) is tried again from a fresh open; a file that does not change
and still fails is reported at once (app.recorder.h5open.read_settled)."""
from __future__ import annotations

import os

import pytest

from app.errors import FileFormatError
from app.recorder import h5open
from app.recorder.h5open import read_settled


@pytest.fixture(autouse=True)
def _no_wait(monkeypatch):
    monkeypatch.setattr(h5open, "CHANGED_FILE_WAIT_S", 0.0)


def test_a_read_that_fails_while_the_file_changes_is_read_again(tmp_path):
    path = tmp_path / "live.h5"
    path.write_bytes(b"x" * 10)
    calls = []

    def read(p):
        calls.append(p)
        if len(calls) < 3:                       # the writer appends while we read
            with open(p, "ab") as fh:
                fh.write(b"y")
            raise FileFormatError(f"{p}: damaged: len not positive after adjustment for EOA")
        return "read"

    assert read_settled(path, read) == "read" and len(calls) == 3


def test_a_file_that_does_not_change_is_damaged_at_once(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"x" * 10)
    calls = []

    def read(p):
        calls.append(p)
        raise FileFormatError(f"{p}: damaged: bad")

    with pytest.raises(FileFormatError, match="damaged: bad"):
        read_settled(path, read)
    assert len(calls) == 1


def test_a_file_that_keeps_changing_and_failing_gives_up(tmp_path):
    path = tmp_path / "churn.h5"
    path.write_bytes(b"x")
    calls = []

    def read(p):
        calls.append(p)
        os.utime(p, ns=(len(calls) * 10**9, len(calls) * 10**9))
        raise FileFormatError(f"{p}: damaged: still changing")

    with pytest.raises(FileFormatError, match="still changing"):
        read_settled(path, read)
    assert len(calls) == h5open.CHANGED_FILE_RETRIES + 1


def test_a_missing_file_is_not_retried(tmp_path):
    calls = []

    def read(p):
        calls.append(p)
        raise FileFormatError(f"{p}: no such file")

    with pytest.raises(FileFormatError, match="no such file"):
        read_settled(tmp_path / "none.h5", read)
    assert len(calls) == 1
