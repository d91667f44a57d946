"""Neurodata Without Borders (NWB) export and import of myoforce sessions.

- :mod:`app.nwb.subject` – session metadata -> NWB Subject / file fields (pure Python)
- :mod:`app.nwb.stream` – the force stream copied in chunks (never all in memory)
- :mod:`app.nwb.tables` – trials, stimulus pulses, lost samples, summary and records
- :mod:`app.nwb.comments` – the operator's comments (an events table)
- :mod:`app.nwb.steps` – where each protocol step began (an events table)
- :mod:`app.nwb.export` – :func:`export_session`, one session -> one ``.nwb`` file
- :mod:`app.nwb.batch` – output names, overwrite rules, temp file + rename
- :mod:`app.nwb.reader` – :func:`load_nwb` / :func:`nwb_info`, the NWB file read back

pynwb (with hdmf and pandas) is heavy and optional (the ``nwb`` extra): it is imported
only inside these modules' functions, through :func:`require_pynwb`, so ``myoforce
--help`` and every other command never load it. The mapping is in ``docs/nwb.md``.
"""
from __future__ import annotations

from types import ModuleType

from app.errors import UserError

INSTALL_HINT = "pip install 'myoforce[nwb]' (pynwb and nwbinspector)"

#: names inside the NWB file, shared by the exporter and the reader
FORCE = "force"
FLAGS = "amplifier_flags"
AUX_PREFIX = "aux_"
PULSES = "stimulus_pulses"
COMMENTS = "operator_comments"
STEPS = "protocol_steps"
RECORD_MODULE = "session_record"
ANALYSIS_MODULE = "analysis"
DOCUMENTS = "documents"
EXPORT_MARK = "myoforce-export"


def require_pynwb() -> ModuleType:
    """The pynwb module, or one line saying how to install it."""
    try:
        import pynwb
    except ImportError as exc:
        raise UserError(f"NWB files need pynwb, which is not installed ({exc.name or exc}): "
                        f"{INSTALL_HINT}") from None
    return pynwb
