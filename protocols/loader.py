"""Reading protocol files: YAML in, a validated :class:`ProtocolSpec` out, or one clear line.

Every way a file can be wrong (not found, not YAML, a duplicated key, an unknown step
kind, a missing or mistyped field, a value beyond the rig's limits) ends in a
:class:`ProtocolFileError` whose message names the file, the step and the field, e.g.
``protocol1.yaml: [4/9] tetanus-4 (tetanus) frequency_hz: 500 Hz exceeds the rig limit of 250 Hz``
(steps counted from 1, as the run shows them); every problem is one such line.
The technician reads it at the rig; a traceback would help nobody there.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.errors import UserError
from app.validation_messages import shown, type_name
from drivers.limits import StimulusLimits
from protocols.schema import STEP_MODELS, ProtocolSpec, Windows
from protocols.validation import Problem, check_limits, check_structure, step_label

MAX_FILE_BYTES = 1_000_000


class ProtocolFileError(UserError):
    """A protocol file is unreadable, malformed, or asks for something the rig must not do.

    ``problems`` lists every problem found; the message shows the first."""

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping: silently keeping
    the last of two ``frequency_hz`` values is not acceptable for a stimulation protocol."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:           # '? [a, b]' or '{a: 1}: x': a list or mapping as a key
            raise yaml.constructor.ConstructorError(
                None, None, f"a key must be a name, not {type_name(key)}",
                key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 (PyYAML) reads 1e-3, 5E2 and 1.5e3 as text; they are numbers in YAML 1.2 and to
# whoever writes them, so they are read as numbers here (and then checked like any other)
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"))


def load_protocol(path: str | Path, *, limits: StimulusLimits | None = None) -> ProtocolSpec:
    """Read and validate a protocol file; with ``limits``, also check it against the rig."""
    path = Path(path)
    return parse_protocol(read_protocol_text(path), source=path.name, limits=limits)


def read_protocol_text(path: str | Path) -> str:
    """The file's text (stored verbatim in the recording), or a ProtocolFileError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ProtocolFileError(f"{path.name}: is a directory, not a protocol file")
        if not path.is_file():      # reading a serial port or a pipe would never end
            raise ProtocolFileError(f"{path}: not a regular file (a device or a pipe?), "
                                    f"not a protocol file")
        if size > MAX_FILE_BYTES:
            raise ProtocolFileError(f"{path.name}: {size} bytes is too large for a protocol file")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ProtocolFileError(f"{path}: no such protocol file") from None
    except UnicodeDecodeError as exc:
        raise ProtocolFileError(f"{path.name}: not UTF-8 text (byte {exc.start})") from None
    except PermissionError:
        raise ProtocolFileError(f"{path}: permission denied") from None


def parse_protocol(text: str, *, source: str = "protocol",
                   limits: StimulusLimits | None = None) -> ProtocolSpec:
    """Validate protocol YAML ``text``; ``source`` names it in messages."""
    from app.input_limits import yaml_error_line, yaml_structure_problem
    try:
        too_big = yaml_structure_problem(text)     # before the recursive composer sees it
        if too_big:
            raise ProtocolFileError(f"{source}: {too_big}")
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ProtocolFileError(f"{source}: {yaml_error_line(exc)}") from None
    if data is None:
        raise ProtocolFileError(f"{source}: the file is empty")
    if not isinstance(data, dict):
        raise ProtocolFileError(
            f"{source}: expected a mapping with 'name' and 'steps' at the top level, "
            f"got {type_name(data)}")
    try:
        protocol = ProtocolSpec.model_validate(data)
    except ValidationError as exc:
        # an unknown field first: it usually explains a "missing" one (duration_s vs duration_ms)
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        messages = [_format_error(err, data) for err in errors]
        raise _error(source, messages) from None
    problems = check_structure(protocol)
    if limits is not None:
        problems += check_limits(protocol, limits)
    if problems:
        raise _error(source, [str(p) for p in problems])
    return protocol


def validate_protocol(protocol: ProtocolSpec, limits: StimulusLimits, *,
                      source: str = "protocol") -> None:
    """Raise ProtocolFileError if ``protocol`` is not runnable on a rig with ``limits``."""
    problems: list[Problem] = check_structure(protocol) + check_limits(protocol, limits)
    if problems:
        raise _error(source, [str(p) for p in problems])


def _error(source: str, messages: list[str]) -> ProtocolFileError:
    """Every problem, one line each, each naming the file."""
    lines = [f"{source}: {m}" for m in messages]
    return ProtocolFileError("\n".join(lines), problems=lines)


# --- turning pydantic's errors into one readable line each ----------------------------

_UNION_MEMBER_TAGS = {"float", "str", "int", "bool", "none", "list", "dict"}


def _step_kind(data: Any, index: int) -> str | None:
    try:
        kind = data["steps"][index].get("kind")
        return kind if isinstance(kind, str) else None
    except Exception:
        return None


def _step_name(data: Any, index: int) -> str | None:
    try:
        name = data["steps"][index].get("name")
        return name if isinstance(name, str) and 0 < len(name) <= 80 else None
    except Exception:
        return None


def _split_loc(loc: tuple, data: Any) -> tuple[str, list[str], str | None]:
    """(step prefix like ``[4/9] tetanus-4 (tetanus)``, field path parts, step kind)."""
    prefix = ""
    kind: str | None = None
    rest = list(loc)
    if len(rest) >= 2 and rest[0] == "steps" and isinstance(rest[1], int):
        index = rest[1]
        rest = rest[2:]
        if rest and rest[0] in STEP_MODELS:
            kind = rest.pop(0)
        else:
            kind = _step_kind(data, index)
        count = len(data["steps"]) if isinstance(data, dict) and isinstance(data.get("steps"), list) else index + 1
        prefix = step_label(index, count, kind, _step_name(data, index))
    parts: list[str] = []
    for item in rest:
        if isinstance(item, int):
            if parts:
                parts[-1] += f"[{item}]"
            else:
                parts.append(f"[{item}]")
        elif item in _UNION_MEMBER_TAGS or "[" in str(item):
            continue  # pydantic's name of a union member, not a field
        else:
            parts.append(str(item))
    return prefix, parts, kind


def _allowed_fields(prefix: str, parts: list[str], kind: str | None) -> list[str]:
    if prefix:
        model = STEP_MODELS.get(kind or "")
        return sorted(model.model_fields) if model and len(parts) == 1 else []
    if len(parts) == 1:
        return sorted(ProtocolSpec.model_fields)
    if len(parts) == 2 and parts[0] == "windows":
        return sorted(Windows.model_fields)
    return []


def _format_error(err: dict, data: Any) -> str:
    """One pydantic error of a protocol file, through the one formatter
    (:mod:`app.validation_messages`), with the step located as the run numbers it."""
    from app.validation_messages import sentence

    prefix, parts, kind = _split_loc(tuple(err.get("loc", ())), data)
    etype = err.get("type", "")
    ctx = err.get("ctx") or {}
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        kinds = ", ".join(STEP_MODELS)
        prefix = prefix.split(" ")[0]
        if etype == "union_tag_not_found":
            return f"{prefix} kind: missing (one of: {kinds})"
        tag = ctx.get("tag")
        close = difflib.get_close_matches(str(tag), list(STEP_MODELS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{prefix} kind: {shown(tag)} is not a step kind (one of: {kinds}){hint}"
    where = " ".join(p for p in (prefix, ".".join(parts)) if p) or "protocol"
    owner = f"a {kind} step" if prefix else "the protocol"
    return sentence(err, where, allowed=_allowed_fields(prefix, parts, kind), owner=owner)
