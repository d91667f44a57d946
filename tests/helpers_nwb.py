"""Reading NWB files back for tests: every string in them, and their descriptive texts."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def nwb_strings(path: Path) -> str:
    """Every name, attribute and text value in an HDF5 (NWB) file, as one text: what a
    blinding test searches for a word that must not be there."""
    import h5py
    out: list[str] = []

    def text(v) -> str:
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)

    def visit(name, obj):
        out.append(name)
        out.extend(text(v) if np.ndim(v) == 0 else " ".join(map(text, np.ravel(v)))
                   for v in obj.attrs.values())
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "OSU":
            out.extend(text(v) for v in np.ravel(obj[()]))
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return "\n".join(out)


def nwb_texts(path: Path) -> dict[str, str | None]:
    """The descriptions a reader sees first: subject, session, experiment, pharmacology,
    notes."""
    import pynwb
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        return {"subject": f.subject.description, "session": f.session_description,
                "experiment": f.experiment_description, "pharmacology": f.pharmacology,
                "notes": f.notes}
