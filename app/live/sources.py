"""Opening a recording for replay, whatever its format, with its session information.

``.h5`` files go through the session reader (which also opens files still being
written and files of a crashed session); ``.nwb`` (myoforce exports), ``.ddf`` and
``.csv`` through the importers.
Qt-free; the GUI calls :func:`load_for_replay` on a worker thread.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from app.recording import Recording, trials_from_pulses


def load_for_replay(path: str | Path) -> tuple[Recording, dict[str, Any]]:
    """``(recording, info)``; ``info`` is the reader's session information when it has one."""
    path = Path(path)
    if not path.exists():
        from app.errors import UserError
        raise UserError(f"{path}: no such file")
    info: dict[str, Any] = {}
    recording: Recording | None = None
    try:
        from app.importers import detect_format
        fmt = detect_format(path)
    except ImportError:
        fmt = "myoforce-h5" if path.suffix.lower() in (".h5", ".hdf5") else "other"
    if fmt == "myoforce-h5":
        from app.recorder import reader
        recording = reader.load_recording(path)
        try:
            info = dict(reader.session_info(path))
        except Exception as exc:  # information is a bonus; the data is what matters
            info = {"session_info_error": str(exc)}
    else:
        from app.importers import load_recording
        recording = load_recording(path)
        if fmt == "nwb":
            from app.nwb.reader import nwb_info
            try:
                info = dict(nwb_info(path))
            except Exception as exc:  # as above: the data is what matters
                info = {"session_info_error": str(exc)}
    if not recording.trials and len(recording.stim_samples):
        recording.trials = trials_from_pulses(recording.stim_samples, recording.sample_rate_hz,
                                              recording.samples)
    base = {"file": str(path), "format": recording.format,
            "sample_rate_hz": recording.sample_rate_hz,
            "duration_s": round(recording.duration_s, 3), "samples": recording.samples,
            "trials": len(recording.trials), "stimuli": int(len(recording.stim_samples)),
            "complete": recording.complete}
    return recording, {**base, **info}
