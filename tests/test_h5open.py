"""The SWMR reader's HDF5 driver: registered on first use, once, thread-safe; not at import."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import h5py

from app.recorder import h5open

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_reader_registers_no_driver() -> None:
    code = ("import h5py, app.recorder.reader, app.recorder.h5open as o;"
            "print(o._SWMR_DRIVER in h5py.registered_drivers(), o._swmr_registered)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_first_use_registers_once_across_threads(monkeypatch) -> None:
    monkeypatch.setattr(h5open, "_swmr_registered", False)
    monkeypatch.setattr(h5open, "_swmr_driver", None)
    calls = []
    real = h5open._register_swmr_driver
    start = threading.Barrier(8)

    def counting() -> str | None:
        calls.append(1)
        return real()

    monkeypatch.setattr(h5open, "_register_swmr_driver", counting)
    names: list[str | None] = []

    def use() -> None:
        start.wait()
        names.append(h5open.swmr_driver())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(set(names)) == 1 and names[0] in (None, h5open._SWMR_DRIVER)
    if names[0] is not None:
        assert names[0] in h5py.registered_drivers()


def test_opening_a_file_uses_the_driver(tmp_path) -> None:
    path = tmp_path / "x.h5"
    with h5py.File(path, "w", libver="latest") as f:
        f["a"] = [1, 2, 3]
    with h5open._open_h5(path) as f:
        assert list(f["a"][()]) == [1, 2, 3]
        assert h5open._swmr_registered      # the first open registered it
        if h5open.swmr_driver() is not None:
            assert f.driver == "sec2"          # h5py reports the low-level driver it set
