"""Analyse many recording files: every core, a progress bar, and a result cache.

One entry point for every command that analyses a list of files (``analyze``,
``compare``, the study report)::

    from app.batch import analyze_many
    for o in analyze_many(paths, AnalysisConfig(), jobs=None, progress=True):
        o.path, o.result, o.error, o.cached     # in the order of ``paths``

- Files whose result is in the cache (:mod:`app.result_cache`: same content, same
  settings, same code) are not analysed again.
- The others are analysed in a process pool of ``jobs`` workers (default: the CPUs
  this process may use); one file, or ``jobs=1``, runs in this process. Results are the
  same as a serial run: each file is analysed by the same function, independently.
- A file that cannot be read or analysed gives an outcome whose ``error`` is one line
  naming the file, and a ``SessionResult.failed`` result; it never stops the batch. A
  worker process that dies (a crash in a C library on a damaged file) costs only the
  file it was analysing: the files in flight are retried one per process.
- ``progress``: True shows a rich progress bar on stderr when stderr is a terminal;
  a callable gets ``(done, total, path)`` after each file; False/None shows nothing.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from app.errors import UserError
from app.result_cache import ResultCache, cache_enabled, file_state

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

ProgressFn = Callable[[int, int, str], None]


@dataclass
class FileOutcome:
    """What analysing one file gave: its result, one-line error or None, cache hit."""

    path: str
    result: Any                      # app.analysis.results.SessionResult
    error: str | None = None
    cached: bool = False


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not just the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------- one file
def analyze_path(path: str, settings: Any) -> tuple[Any, Any, str | None]:
    """(recording or None, SessionResult, error line or None) for one file.

    Never raises for a bad file: reading and analysis errors become the message.
    """
    rec, res, err, _ = _analyze(path, settings)
    return rec, res, err


def _analyze(path: str, settings: Any) -> tuple[Any, Any, str | None, bool]:
    """:func:`analyze_path` plus whether the result may be cached (the file was read
    completely and the analysis ran to its end: not an exception, maybe transient)."""
    from app.analysis.results import SessionResult
    from app.importers import load_recording

    try:
        rec = load_recording(path)
    except UserError as exc:
        return None, SessionResult.failed(path, str(exc)), str(exc), False
    except Exception as exc:            # a damaged file must not stop the batch
        msg = f"{path}: cannot read ({type(exc).__name__}: {exc})"
        return None, SessionResult.failed(path, msg), msg, False
    from app.analysis.session import analyze_recording     # slow import: only when needed
    try:
        res = analyze_recording(rec, settings)
    except Exception as exc:
        msg = f"{path}: analysis failed ({type(exc).__name__}: {exc})"
        return rec, SessionResult.failed(path, msg, rec.format), msg, False
    return rec, res, (f"{path}: {res.error}" if res.error else None), bool(rec.complete)


def _analyze_and_store(path: str, settings: Any, key: str | None,
                       cache: ResultCache | None, state: tuple | None) -> FileOutcome:
    """Analyse one file; store the result when the file was complete and unchanged.

    Runs in a worker process (or in this one); module-level so it can be pickled."""
    _rec, res, err, storable = _analyze(path, settings)
    del _rec                             # closes a lazily read HDF5 file before the check
    if cache is not None and key is not None and storable and _unchanged(path, state):
        cache.put(key, res)
    return FileOutcome(path, res, err)


def _unchanged(path: str, state: tuple | None) -> bool:
    try:
        return state is not None and file_state(path) == state
    except OSError:
        return False


def _lookup(path: str, settings: Any, cache: ResultCache | None
            ) -> tuple[FileOutcome | None, str | None, tuple | None]:
    """(cached outcome or None, cache key, file state before hashing)."""
    if cache is None:
        return None, None, None
    try:
        state = file_state(path)
        if not os.path.isfile(path):
            return None, None, None
        key = cache.key(cache.digest(path, state), settings)
    except OSError:                      # analyze_path will say what is wrong
        return None, None, None
    res = cache.get(key)
    if res is None:
        return None, key, state
    res = dataclasses.replace(res, file=path)     # same content, maybe another name
    return FileOutcome(path, res, f"{path}: {res.error}" if res.error else None, True), \
        key, state


# ----------------------------------------------------------------- many files
def analyze_many(paths: Sequence[str], settings: Any, jobs: int | None = None,
                 progress: bool | ProgressFn | None = None,
                 cache: ResultCache | bool | None = True) -> Iterator[FileOutcome]:
    """Outcomes of analysing ``paths`` with ``settings``, yielded in the order of
    ``paths`` as soon as each is known (see the module docstring)."""
    paths = [os.fspath(p) for p in paths]
    store = _resolve_cache(cache)
    with _Progress(progress, len(paths)) as bar:
        done: dict[int, FileOutcome] = {}
        todo: list[tuple[int, str | None, tuple | None]] = []
        for i, p in enumerate(paths):
            hit, key, state = _lookup(p, settings, store)
            if hit is not None:
                done[i] = hit
                bar.advance(p)
            else:
                todo.append((i, key, state))
        results = _compute(paths, settings, todo, store, jobs, bar)
        for i in range(len(paths)):
            while i not in done:
                j, outcome = next(results)
                done[j] = outcome
            bar.hide()          # the caller prints this outcome on a clean line
            yield done.pop(i)
    if store is not None and todo:
        store.prune()


def _resolve_cache(cache: ResultCache | bool | None) -> ResultCache | None:
    if isinstance(cache, ResultCache):
        return cache
    return ResultCache() if cache and cache_enabled() else None


def _compute(paths: list[str], settings: Any, todo: list[tuple[int, str | None, tuple | None]],
             store: ResultCache | None, jobs: int | None, bar: "_Progress"
             ) -> Iterator[tuple[int, FileOutcome]]:
    """(index, outcome) of every file in ``todo``, in completion order."""
    workers = min(jobs or available_cpus(), len(todo))
    if workers <= 1:
        for i, key, state in todo:
            outcome = _analyze_and_store(paths[i], settings, key, store, state)
            bar.advance(paths[i])
            yield i, outcome
        return
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    retry: list[tuple[int, str | None, tuple | None]] = []
    pool = _pool(workers)
    try:
        futures = {pool.submit(_analyze_and_store, paths[i], settings, key, store, state):
                   (i, key, state) for i, key, state in todo}
        for fut in as_completed(futures):
            i = futures[fut][0]
            try:
                outcome = fut.result()
            except BrokenProcessPool:
                retry.append(futures[fut])
                continue
            except Exception as exc:       # e.g. a result that cannot be sent back
                outcome = _failed(paths[i], f"analysis failed ({type(exc).__name__}: {exc})")
            bar.advance(paths[i])
            yield i, outcome
    finally:                               # also when the caller stops early or ^C
        pool.shutdown(wait=True, cancel_futures=True)
        import gc
        gc.unfreeze()                      # (see _pool)
    for i, key, state in retry:            # one process per file: a crash costs one file
        yield i, _isolated(paths[i], settings, key, store, state)
        bar.advance(paths[i])


def _isolated(path: str, settings: Any, key: str | None, store: ResultCache | None,
              state: tuple | None) -> FileOutcome:
    from concurrent.futures.process import BrokenProcessPool
    with _pool(1) as pool:
        try:
            return pool.submit(_analyze_and_store, path, settings, key, store, state).result()
        except BrokenProcessPool:
            return _failed(path, "the analysis process died on this file; it may be "
                                 "damaged (check it with 'myoforce verify')")
        except Exception as exc:
            return _failed(path, f"analysis failed ({type(exc).__name__}: {exc})")


def _failed(path: str, why: str) -> FileOutcome:
    from app.analysis.results import SessionResult
    msg = f"{path}: {why}"
    return FileOutcome(path, SessionResult.failed(path, msg), msg)


_PRELOAD = ("app.batch", "app.analysis.session", "app.importers", "app.recorder.reader")


def _pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose workers start with the analysis already imported.

    When this process runs a single thread (the CLI: the progress bar has no refresh
    thread), workers are forked from it after importing the analysis here, which costs
    milliseconds. Otherwise (the GUI, a study report in a threaded program) forking
    could copy a lock some other thread holds, so workers are forked from a clean server
    process that imports the analysis once for all of them."""
    import importlib
    import multiprocessing as mp
    import threading
    from concurrent.futures import ProcessPoolExecutor
    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        for name in _PRELOAD:
            importlib.import_module(name)
        import gc
        gc.freeze()      # workers' garbage collector leaves the shared pages unwritten
        ctx = mp.get_context("fork")
    elif "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(_PRELOAD))
    else:
        ctx = mp.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)


def _worker_init() -> None:
    """Ctrl-C is the parent's to handle (it cancels what has not started and waits for
    the files in progress); a worker that also got it would print a traceback."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----------------------------------------------------------------- progress
class _Progress:
    """A rich progress bar on stderr (only on a terminal), or a callback, or nothing."""

    def __init__(self, progress: bool | ProgressFn | None, total: int) -> None:
        self.total, self.done = total, 0
        self.callback: ProgressFn | None = progress if callable(progress) else None
        self.bar: Any = None
        if progress is True and total > 1 and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self.bar = Progress("analysing", BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(),
                                console=Console(stderr=True), transient=True,
                                auto_refresh=False)     # no thread: see _pool
            self.task = self.bar.add_task("analysing", total=total)

    def __enter__(self) -> "_Progress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hide()

    def hide(self) -> None:
        """Erase the bar (it is transient) before an outcome is handed to the caller, who
        prints it to stdout: otherwise the output starts on the bar's line, after it.
        The next :meth:`advance` draws the bar again below what was printed."""
        if self.bar is not None and self.bar.live.is_started:
            self.bar.stop()

    def advance(self, path: str) -> None:
        self.done += 1
        if self.bar is not None:
            if not self.bar.live.is_started:
                self.bar.start()
            self.bar.advance(self.task)
            self.bar.refresh()
        if self.callback is not None:
            self.callback(self.done, self.total, path)
