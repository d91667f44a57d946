"""Work-arounds for defects of the installed Qt binding, applied when ``app.gui`` is imported.

PySide6 6.12.0: ``SignalInstance.emit()`` returns ``True`` without taking a reference,
so every signal emitted from Python (ours, pyqtgraph's, pytest-qt's) drops one reference
to the ``True`` singleton. On Python >= 3.12 ``True`` is immortal and nothing happens;
on Python 3.11 its count reaches zero after a few hundred emits and the interpreter
aborts with "Fatal Python error: bool_dealloc" (or "none_dealloc"), at a random moment.

:func:`apply` detects the defect by emitting one signal and watching the count, and
only then gives the bool and None singletons a very large reference count: exactly
what Python 3.12 does for them (immortal objects). They are static singletons that are
never freed, so this changes nothing else. The real fix is a binding without the bug
(PySide6 != 6.12.0) or Python >= 3.12.
"""
from __future__ import annotations

import ctypes
import sys

_IMMORTAL = 1 << 40
applied = False


def emit_leaks_true() -> bool:
    """True when emitting a signal drops a reference to ``True`` (the 6.12.0 defect)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        sig = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.sig.emit()
    after = sys.getrefcount(True)
    return after < before - 4


def apply() -> bool:
    """Apply the work-around if this interpreter and binding need it; returns whether it did."""
    global applied
    if applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return applied
    try:
        if not emit_leaks_true():
            return False
    except Exception:
        return False
    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += _IMMORTAL
    applied = True
    return True
