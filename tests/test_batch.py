"""Batch analysis (app.batch) and its result cache (app.result_cache)."""
from __future__ import annotations

import json
import math
import shutil

import h5py
import pytest

from app.analysis import AnalysisConfig
from app.batch import _analyze_and_store, analyze_many
from app.result_cache import ResultCache, file_digest, file_state
from tests.helpers_recording import write_synthetic_session

CFG = AnalysisConfig()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """Three small session files with different twitch amplitudes."""
    folder = tmp_path_factory.mktemp("batch")
    return [str(write_synthetic_session(folder / f"s{i}.h5", amplitude_mN=60.0 + 20 * i,
                                        tetanus_pulses=10).path) for i in range(3)]


def dumps(outcomes) -> list[str]:
    return [json.dumps(o.result.to_dict(), sort_keys=True) for o in outcomes]


def test_cache_miss_then_hit_gives_the_same_results(sessions, tmp_path):
    cache = ResultCache(tmp_path / "c")
    first = list(analyze_many(sessions, CFG, jobs=1, cache=cache))
    assert [o.cached for o in first] == [False] * 3 and not any(o.error for o in first)
    second = list(analyze_many(sessions, CFG, jobs=1, cache=cache))
    assert [o.cached for o in second] == [True] * 3
    assert dumps(second) == dumps(first)
    assert [o.path for o in second] == sessions
    pt = [o.result.summary["pt_mN"] for o in second]
    assert pt[0] < pt[1] < pt[2] and all(math.isfinite(v) for v in pt)


def test_content_change_invalidates(sessions, tmp_path):
    cache = ResultCache(tmp_path / "c")
    path = tmp_path / "x.h5"
    shutil.copy(sessions[0], path)
    a = next(analyze_many([str(path)], CFG, cache=cache))
    write_synthetic_session(path, amplitude_mN=150.0, tetanus_pulses=10, overwrite=True)
    b = next(analyze_many([str(path)], CFG, cache=cache))
    assert not b.cached
    assert b.result.summary["pt_mN"] > 1.5 * a.result.summary["pt_mN"]


def test_copy_under_another_name_hits_and_reports_its_own_name(sessions, tmp_path):
    cache = ResultCache(tmp_path / "c")
    next(analyze_many([sessions[1]], CFG, cache=cache))
    copy = tmp_path / "renamed.h5"
    shutil.copy(sessions[1], copy)
    out = next(analyze_many([str(copy)], CFG, cache=cache))
    assert out.cached and out.result.file == str(copy)


def test_settings_change_invalidates(sessions, tmp_path):
    cache = ResultCache(tmp_path / "c")
    next(analyze_many(sessions[:1], CFG, cache=cache))
    other = CFG.with_changes(relaxation_percent=30.0)
    out = next(analyze_many(sessions[:1], other, cache=cache))
    assert not out.cached
    assert next(analyze_many(sessions[:1], other, cache=cache)).cached


def test_code_version_change_invalidates(sessions, tmp_path):
    next(analyze_many(sessions[:1], CFG, cache=ResultCache(tmp_path / "c", version="v1")))
    assert next(analyze_many(sessions[:1], CFG,
                             cache=ResultCache(tmp_path / "c", version="v1"))).cached
    assert not next(analyze_many(sessions[:1], CFG,
                                 cache=ResultCache(tmp_path / "c", version="v2"))).cached


def test_default_cache_folder_follows_the_environment(sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("MYOFORCE_CACHE_DIR", str(tmp_path / "env"))
    next(analyze_many(sessions[:1], CFG))
    assert list((tmp_path / "env" / "analysis").rglob("*.pkl"))
    monkeypatch.setenv("MYOFORCE_CACHE", "off")
    assert not next(analyze_many(sessions[:1], CFG)).cached


def test_incomplete_session_is_never_cached(sessions, tmp_path):
    """A file that says complete: false (being written, or its writer died)."""
    path = tmp_path / "open.h5"
    shutil.copy(sessions[0], path)
    with h5py.File(path, "r+") as f:
        f.attrs["complete"] = 0
    cache = ResultCache(tmp_path / "c")
    for _ in range(2):
        out = next(analyze_many([str(path)], CFG, cache=cache))
        assert not out.cached and out.result.trials
    assert not list((tmp_path / "c").rglob("*.pkl"))


def test_file_changed_during_analysis_is_not_cached(sessions, tmp_path):
    cache = ResultCache(tmp_path / "c")
    key = cache.key(file_digest(sessions[0]), CFG)
    before = file_state(sessions[0])
    moved = (before[0], before[1], before[2] + 1, before[3])     # as if it had grown
    _analyze_and_store(sessions[0], CFG, key, cache, moved)
    assert cache.get(key) is None
    _analyze_and_store(sessions[0], CFG, key, cache, before)
    assert cache.get(key) is not None


def test_pool_results_identical_to_serial(sessions):
    paths = sessions * 2
    serial = list(analyze_many(paths, CFG, jobs=1, cache=False))
    pooled = list(analyze_many(paths, CFG, jobs=2, cache=False))
    assert [o.path for o in pooled] == paths
    assert dumps(pooled) == dumps(serial)


def test_a_bad_file_does_not_lose_the_others(sessions, tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not a session\n")
    missing = str(tmp_path / "missing.h5")
    paths = [sessions[0], str(garbage), missing, sessions[2]]
    seen = []
    out = list(analyze_many(paths, CFG, jobs=2, cache=ResultCache(tmp_path / "c"),
                            progress=lambda done, total, p: seen.append((done, total))))
    assert [o.path for o in out] == paths
    assert out[0].error is None and out[3].error is None
    assert out[0].result.trials and out[3].result.trials
    for o in out[1:3]:
        assert o.error and o.path in o.error and "\n" not in o.error
        assert o.result.error and not o.result.trials
    assert sorted(seen) == [(i, 4) for i in range(1, 5)]


def test_cli_analyze_uses_the_cache_and_prints_the_same(sessions, tmp_path, capsys):
    from app.cli.main import main
    assert main(["analyze", *sessions, "--json", "-j", "2"]) == 0
    first = capsys.readouterr().out
    assert main(["analyze", *sessions, "--json"]) == 0
    assert capsys.readouterr().out == first
    assert main(["analyze", *sessions, "--json", "--no-cache", "-j", "1"]) == 0
    assert capsys.readouterr().out == first
    assert main(["analyze", sessions[0], "--jobs", "0"]) == 1
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_pool_from_a_threaded_program_gives_the_same_results(sessions):
    """With another thread running, workers come from a fork server, not a fork."""
    import threading
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        pooled = list(analyze_many(sessions, CFG, jobs=2, cache=False))
    finally:
        stop.set()
        other.join()
    assert dumps(pooled) == dumps(analyze_many(sessions, CFG, jobs=1, cache=False))


def test_prune_keeps_the_most_recently_used(sessions, tmp_path):
    import os
    import time
    cache = ResultCache(tmp_path / "c")
    list(analyze_many(sessions, CFG, jobs=1, cache=cache))
    entries = sorted((tmp_path / "c").rglob("*.pkl"))
    assert len(entries) == 3
    old = time.time() - 1000
    for f in entries:
        os.utime(f, (old, old))
    assert next(analyze_many(sessions[1:2], CFG, cache=cache)).cached    # touched now
    one = max(f.stat().st_size for f in entries) + 64 * 10      # + remembered digests
    assert cache.prune(max_bytes=one) == 2
    assert len(list((tmp_path / "c").rglob("*.pkl"))) == 1
    assert next(analyze_many(sessions[1:2], CFG, cache=cache)).cached
    assert not next(analyze_many(sessions[:1], CFG, cache=cache)).cached


def test_a_worker_that_dies_costs_only_its_own_file(sessions, tmp_path, monkeypatch):
    """A crash in a C library (here: os._exit in the worker) breaks the pool; the files
    in flight are retried one per process, and only the crashing one fails."""
    import os
    import threading

    import app.batch as batch
    if threading.active_count() != 1 or "fork" not in __import__("multiprocessing") \
            .get_all_start_methods():
        pytest.skip("needs forked workers (they inherit the patched function)")
    real = batch._analyze

    def crashing(path, settings):
        if path.endswith("crash.h5"):
            os._exit(3)
        if path.endswith("raise.h5"):
            raise MemoryError("no room")
        return real(path, settings)

    monkeypatch.setattr(batch, "_analyze", crashing)
    crash, boom = tmp_path / "crash.h5", tmp_path / "raise.h5"
    shutil.copy(sessions[0], crash)
    shutil.copy(sessions[0], boom)
    paths = [sessions[0], str(crash), sessions[1], str(boom), sessions[2]]
    out = list(analyze_many(paths, CFG, jobs=2, cache=False))
    assert [o.path for o in out] == paths
    assert [o.error is None for o in out] == [True, False, True, False, True]
    assert "analysis process died" in out[1].error and str(crash) in out[1].error
    assert "MemoryError: no room" in out[3].error and str(boom) in out[3].error
    assert all(o.result.trials for o in (out[0], out[2], out[4]))


def test_digest_remembered_for_an_unchanged_settled_file(sessions, tmp_path, monkeypatch):
    import app.result_cache as rc
    path = tmp_path / "d.h5"
    shutil.copy(sessions[0], path)
    calls = []
    real = rc.file_digest
    monkeypatch.setattr(rc, "file_digest", lambda p: calls.append(p) or real(p))
    cache = ResultCache(tmp_path / "c")
    d1 = cache.digest(path, file_state(path))
    assert cache.digest(path, file_state(path)) == d1 and len(calls) == 2   # fresh: rehashed
    monkeypatch.setattr(rc, "SETTLE_S", 0.0)
    cache.digest(path, file_state(path))
    assert cache.digest(path, file_state(path)) == d1 and len(calls) == 3   # remembered
    with open(path, "r+b") as fh:                   # same size, new content
        fh.seek(-1, 2)
        last = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([last[0] ^ 0xFF]))
    assert cache.digest(path, file_state(path)) != d1 and len(calls) == 4


class _Terminal:
    """stderr as a terminal (rich draws its bar), recording what is written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no file descriptor")


def test_progress_bar_is_erased_before_each_outcome_is_printed(sessions, monkeypatch):
    import sys
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    seen = 0
    for _ in analyze_many(sessions, CFG, jobs=1, progress=True, cache=False):
        assert "analysing" in term.text                    # the bar was drawn ...
        assert term.text.endswith("\x1b[2K")               # ... and erased: stdout starts clean
        seen += 1
    assert seen == len(sessions)
