"""Damaged session files against the analysis: issue 9's table (attack, tries, failures).

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_damaged_files.py``

A session is recorded through the real recorder (two checksummed blocks: a logged gap
splits them), analysed intact, then damaged copy by copy — random bit flips in the
stored force, a tampered sample rate, impossible trial rows, /force rewritten as int16,
a number in a logged gap — and analysed again. Each try ends as 'same' (every trial
measured exactly as intact: the damage touched nothing measured), 'refused' (a trial
or the file refused with the reason, no trial differing) or 'WRONG NUMBER' (a trial
measured differently from the intact file: a failure). Run it on an older checkout to
get the 'before' column.
"""
import json
import pathlib
import shutil
import tempfile

import h5py
import numpy as np

from app.analysis.session import analyze_recording
from app.errors import FileFormatError
from app.importers import load_recording
from tests.helpers_recording import write_synthetic_session

#: the measures compared with the intact file
F = ("peak_force_mN", "time_to_peak_ms", "half_relaxation_ms")


def vals(t):
    return tuple(json.dumps(getattr(t, f)) for f in F)


def outcome(path, want):
    """'same', 'refused', 'WRONG NUMBER' or 'crash' for the analysis of ``path``."""
    try:
        r = analyze_recording(load_recording(path))
    except FileFormatError:
        return "refused"
    except Exception:                 # noqa: BLE001 - counted, not hidden
        return "crash"
    if any(g.error is None and vals(g) != vals(w) for g, w in zip(r.trials, want.trials)):
        return "WRONG NUMBER"
    return "refused" if any(g.error for g in r.trials) else "same"


def force_offset(path, sample):
    with h5py.File(path, "r") as f:
        info = f["force"].id.get_chunk_info_by_coord((0,))
    return info.byte_offset + 4 * sample


def int16(f):
    data = np.nan_to_num(f["force"][()]).astype(np.int16)
    attrs = dict(f["force"].attrs)
    del f["force"]
    f.create_dataset("force", data=data, maxshape=(None,), chunks=True).attrs.update(attrs)


TAMPER = {
    "sample_rate_hz x10": lambda f: f.attrs.modify("sample_rate_hz", 100000.0),
    "stop_sample = 2**62": lambda f: f["trials/stop_sample"].__setitem__(1, 2 ** 62),
    "first_pulse outside window": lambda f: f["trials/first_pulse_sample"].__setitem__(0, 10),
    "/force as int16": int16,
    "number in a logged gap": lambda f: f["force"].__setitem__(5007, 12.5),
}


def main(flips: int = 20) -> None:
    d = pathlib.Path(tempfile.mkdtemp())
    s = write_synthetic_session(d / "intact.h5", gaps=[(5000, 250)])
    want = analyze_recording(load_recording(s.path))
    rng = np.random.default_rng(7)
    res: dict[str, list[str]] = {}
    for k in range(flips):
        p = d / f"flip{k}.h5"
        shutil.copyfile(s.path, p)
        smp = int(rng.integers(0, 5000) if k % 2 else rng.integers(5250, s.force_mN.size))
        o = force_offset(p, smp) + int(rng.integers(0, 4))
        with open(p, "r+b") as fh:
            fh.seek(o)
            b = fh.read(1)[0]
            fh.seek(o)
            fh.write(bytes([b ^ (1 << int(rng.integers(0, 8)))]))
        res.setdefault("byte flip in /force", []).append(outcome(p, want))
    for name, fn in TAMPER.items():
        p = d / f"tampered{len(res)}.h5"
        shutil.copyfile(s.path, p)
        with h5py.File(p, "r+") as f:
            fn(f)
        res.setdefault(name, []).append(outcome(p, want))
    shutil.rmtree(d, ignore_errors=True)
    for k, v in res.items():
        print(f"{k:28s} tries {len(v):3d}  wrong numbers {v.count('WRONG NUMBER'):3d}  "
              f"refused {v.count('refused'):3d}  same {v.count('same'):3d}  "
              f"crash {v.count('crash')}")


if __name__ == "__main__":
    main()
