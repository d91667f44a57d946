"""Text from files and operators made safe to print on a terminal.

A protocol name, a subject id or a note comes from a file or a text field; written raw
to a terminal, ``\\x1b]0;...\\x07`` retitles the window and ``\\x1b[2J`` clears it, so
every such text is printed through :func:`printable`: control characters (C0, DEL, C1,
and the Unicode bidi overrides) appear as escapes (``\\x1b``), everything else as is.
"""
from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with control characters escaped (``\\n`` and ``\\t`` kept if ``newlines``,
    else escaped too: one message stays one line)."""
    text = str(text)
    if newlines:
        return _CONTROL.sub(_escape, text)
    return _CONTROL.sub(_escape, text).replace("\n", "\\n").replace("\t", " ")
