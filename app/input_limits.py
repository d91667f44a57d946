"""Limits on the structure of YAML and TOML input, and their reader errors as one line.

A protocol or rig file is a handful of tables and lists. A file nested hundreds of levels
deep would crash the recursive YAML composer and TOML parser (``RecursionError``), and
YAML aliases can make a small file expand to billions of values; both are refused
before parsing, in one line naming the file. Every reader error (a control character,
a bad indent, an integer of 5000 digits beyond Python's conversion limit) is one line too.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from app.terminal import printable

#: deepest nesting of lists/tables/mappings a protocol or rig file may have
MAX_DEPTH = 32
#: most values (scalars and collections, YAML aliases expanded) a file may hold
MAX_VALUES = 100_000


def yaml_structure_problem(text: str) -> str | None:
    """Why ``text`` is too deep or too large to parse, or None. Uses PyYAML's event
    stream (an iterative parser), so it cannot recurse itself; YAML syntax errors
    propagate as ``yaml.YAMLError`` for :func:`yaml_error_line`."""
    anchors: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]          # [anchor, values inside]
    deepest = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            stack.append([event.anchor, 1])
            deepest = max(deepest, len(stack) - 1)
            if deepest > MAX_DEPTH:
                return (f"nested more than {MAX_DEPTH} levels deep (line "
                        f"{event.start_mark.line + 1}); a protocol needs a few")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, count = stack.pop()
            if anchor is not None:
                anchors[anchor] = count
            stack[-1][1] += count
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                anchors[event.anchor] = 1
            stack[-1][1] += 1
        elif isinstance(event, yaml.AliasEvent):
            stack[-1][1] += anchors.get(event.anchor, 1)
        if stack[-1][1] > MAX_VALUES or stack[0][1] > MAX_VALUES:
            return f"more than {MAX_VALUES} values (YAML aliases expanding?)"
    return None


def yaml_error_line(exc: BaseException) -> str:
    """A YAML reader error as one line: where, and what (control characters escaped)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"not valid YAML{where}: {_one_line(exc.problem or exc.context or 'syntax error')}"
    if isinstance(exc, yaml.reader.ReaderError):
        return (f"not valid YAML: character {printable(repr(chr(exc.character)))} at position "
                f"{exc.position} is not allowed ({_one_line(exc.reason)})"
                if isinstance(exc.character, int) else f"not valid YAML: {_one_line(exc.reason)}")
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return f"a number is too long ({_digits(str(exc))}; at most 4300)"
    if isinstance(exc, RecursionError):
        return f"nested too deeply to read (at most {MAX_DEPTH} levels)"
    return f"not valid YAML: {_one_line(str(exc))}"


def toml_depth_problem(text: str) -> str | None:
    """Why a TOML text is nested too deeply to parse (arrays and inline tables), or None.

    A small scanner: strings and comments are skipped, table headers (``[a]``,
    ``[[a]]`` at the start of a line) do not count."""
    depth = deepest = 0
    i, n, line = 0, len(text), 1
    line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            line, line_start = line + 1, True
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#":
            i = _skip_to(text, i, "\n")
            continue
        if c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            end = _string_end(text, i + len(quote), quote)
            line += text.count("\n", i, end)
            i, line_start = end, False
            continue
        if c == "[" and line_start and depth == 0:      # a table header, not a value
            i = _skip_to(text, i, "\n")
            continue
        line_start = False
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep (line {line}); the file needs a few"
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None


def load_toml(text: str, source: str, error: type[Exception] | None = None) -> dict[str, Any]:
    """Parse TOML ``text`` within the depth limit; any problem is ``error`` (default
    :class:`app.errors.UserError`) with one line naming ``source``."""
    import tomllib

    if error is None:
        from app.errors import UserError as error
    too_deep = toml_depth_problem(text)            # before the recursive parser sees it
    if too_deep:
        raise error(f"{source}: {too_deep}")
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{source}: {toml_error_line(exc)}") from None


def toml_error_line(exc: BaseException) -> str:
    """A TOML reader error as one line."""
    if isinstance(exc, ValueError) and "digits" in str(exc) and "TOML" not in type(exc).__name__:
        return f"a number is too long ({_digits(str(exc))}; at most 4300)"
    if isinstance(exc, RecursionError):
        return f"nested too deeply to read (at most {MAX_DEPTH} levels)"
    return f"not valid TOML: {_one_line(str(exc))}"


def _skip_to(text: str, i: int, char: str) -> int:
    j = text.find(char, i)
    return len(text) if j < 0 else j


def _string_end(text: str, i: int, quote: str) -> int:
    """Index just past the string that starts at ``i`` (after its opening quote)."""
    escapes = quote[0] == '"'
    n = len(text)
    while i < n:
        if escapes and text[i] == "\\":
            i += 2
            continue
        if text.startswith(quote, i):
            return i + len(quote)
        if len(quote) == 1 and text[i] == "\n":
            return i                     # an unterminated string: the parser will say so
        i += 1
    return n


def _digits(message: str) -> str:
    m = re.search(r"has (\d+) digits", message)
    return f"{m.group(1)} digits" if m else "too many digits"


def _one_line(text: str) -> str:
    return printable(" ".join(str(text).split()))
