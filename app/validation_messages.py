"""Pydantic validation errors as one readable sentence each: the one formatter.

Protocol files, rig files, session metadata (CLI options, the GUI form, CSV headers)
all validate with pydantic; each caller names the place (``[4/9] tetanus-4 (tetanus)
rest_s``, ``limits.max_current_mA``, ``--muscle-length-mm``) and this module says what
is wrong with it, the same way everywhere: ``must be > 0, got -1``.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable

from app.terminal import printable

_TYPE_WORDS = {
    "float_type": "must be a number", "float_parsing": "must be a number",
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "int_parsing_size": "must be a whole number",
    "string_type": "must be text", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list", "model_type": "must be a mapping of fields",
    "dict_type": "must be a mapping of fields", "model_attributes_type": "must be a mapping of fields",
    "finite_number": "must be a finite number",
}

_BOUNDS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
           "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}


def type_name(value: Any) -> str:
    """How a wrongly typed value is shown: ``a list``, ``text 'x'``, ``True (a boolean)``."""
    if isinstance(value, bool):
        return f"{value!r} (a boolean)"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f"text {shown(value)}"
    return shown(value)


def shown(value: Any) -> str:
    """``repr(value)`` for a message, bounded and printable: YAML aliases can make a small
    file hold a list of a billion items, and a 5000-digit number or an escape sequence
    has no place on a terminal."""
    if isinstance(value, (list, tuple, dict, set)):
        return type_name(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"a {len(str(abs(value)))}-digit number"
    try:
        text = repr(value)
    except ValueError:      # an int too long to convert
        return "a very long number"
    text = printable(text)
    return text if len(text) <= 80 else text[:77] + "..."


def sentence(err: dict, where: str, *, allowed: Iterable[str] = (), owner: str = "") -> str:
    """One pydantic error as ``<where>: <what is wrong>``.

    ``allowed`` are the valid field names at that place (for "did you mean"), ``owner``
    what they belong to (``a tetanus step``, ``the [limits] table``)."""
    etype = err.get("type", "")
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if etype == "missing":
        return f"{where}: is required"
    if etype == "extra_forbidden":
        name = str(err.get("loc", ("",))[-1]) if err.get("loc") else ""
        close = difflib.get_close_matches(name, list(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{where}: is not a field of {owner or 'this table'}{hint}"
    if etype in _BOUNDS:
        op, key = _BOUNDS[etype]
        limit = ctx.get(key)
        limit = f"{limit:g}" if isinstance(limit, (int, float)) else limit
        return f"{where}: must be {op} {limit}, got {shown(value)}"
    if etype in ("too_short", "string_too_short"):
        n = ctx.get("min_length")
        if etype == "string_too_short":
            return f"{where}: must not be empty" if n == 1 else f"{where}: needs at least {n} characters"
        return f"{where}: needs at least {n} item{'s' if n != 1 else ''}"
    if etype in ("too_long", "string_too_long"):
        unit = "characters" if etype == "string_too_long" else "items"
        return f"{where}: at most {ctx.get('max_length')} {unit}"
    if etype == "literal_error":
        return f"{where}: must be {ctx.get('expected')}, got {shown(value)}"
    if etype == "string_pattern_mismatch":
        return f"{where}: {shown(value)} may only use letters, digits, '.', '_' and '-'"
    if etype == "finite_number":
        return f"{where}: must be a finite number, got {shown(value)}"
    if etype in _TYPE_WORDS:
        return f"{where}: {_TYPE_WORDS[etype]}, got {type_name(value)}"
    msg = printable(str(err.get("msg", "invalid")).removeprefix("Value error, "))
    if etype == "value_error" or value is None or isinstance(value, dict):
        return f"{where}: {msg}"
    return f"{where}: {msg}, got {shown(value)}"
