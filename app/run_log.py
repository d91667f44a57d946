"""Where the details of a run's faults go: a log file, never the terminal.

During ``myoforce run`` the terminal shows one line per fault (the run's own summary);
every log record (driver warnings, teardown problems with their tracebacks, exceptions
escaping a thread) goes to the log file instead of stderr, where Python would print
them by default. The file is ``$MYOFORCE_LOG``, else ``$XDG_STATE_HOME/myoforce/
myoforce.log`` (``~/.local/state/myoforce/myoforce.log``). Faults also go to the
recording's audit table (``app.session``).
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import threading
from pathlib import Path

_handler: logging.Handler | None = None
_path: Path | None = None


def log_path() -> Path:
    """The log file's path (not created here)."""
    env = os.environ.get("MYOFORCE_LOG")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "myoforce" / "myoforce.log"


def route_logs_to_file() -> Path | None:
    """Send log records to the log file (and none to the terminal); idempotent.

    Returns the file's path, or None if it cannot be written (then the records are
    dropped rather than printed: the terminal still gets the run's one-line summary)."""
    global _handler, _path
    if _handler is not None:
        return _path
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")   # bounded: 20 MB
        _path = path
    except OSError:
        handler, _path = logging.NullHandler(), None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    threading.excepthook = _thread_exception
    _handler = handler
    return _path


def _thread_exception(args: threading.ExceptHookArgs) -> None:
    """An exception escaping a thread: to the log file with its traceback, not stderr."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("myoforce").error(
        "uncaught exception in thread %s", name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
