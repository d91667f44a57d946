"""A study folder and everything in it, loaded through one function: :func:`load_study`.

Layout (docs/study.md):

    study.toml              the design (hand-edited; validated by app.study.design)
    animals.toml            animals, body-mass history, exclusions
    allocation.toml         randomisation runs (method, seed, time) and animal → code
    allocation-key.toml     code → group: the blinding key (written once, never rewritten)
    log.jsonl               the study log: one JSON object per event, append-only
    sessions/<timepoint>/<animal>.h5   recorded sessions (a repeat: <animal>-2.h5 ...)

Operator-facing text uses :meth:`Study.label` (the neutral code while blinded); only
:meth:`Study.true_group` reads the key — for the simulated rig's hidden effect, the
unblinded report and the unblinded NWB export's dose (:mod:`app.nwb.study_facts`).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from app.errors import UserError
from app.study.animals import Animal, validate_animal
from app.study.design import StudyDesign, read_design

from app.study.paths import (ALLOCATION_FILE, ANIMALS_FILE, KEY_FILE, LOG_FILE,  # noqa: F401
                             SESSION_NAME, SESSIONS_DIR, STUDY_FILE)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class SessionRef:
    """A session file filed in the study."""

    animal: str
    timepoint: str
    path: Path


@dataclass
class Study:
    root: Path
    design: StudyDesign
    animals: dict[str, Animal]
    codes: dict[str, str] = field(default_factory=dict)         # animal -> code
    runs: list[dict[str, Any]] = field(default_factory=list)    # randomisation runs
    log: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ blinding
    @property
    def unblinding(self) -> dict[str, Any] | None:
        return next((e for e in self.log if e.get("event") == "unblinded"), None)

    @property
    def blinded(self) -> bool:
        return self.design.blinding and self.unblinding is None

    def _key(self) -> dict[str, str]:
        path = self.root / KEY_FILE
        if not path.exists():
            return {}
        return {str(k): str(v) for k, v in _read_toml(path).get("key", {}).items()}

    def true_group(self, animal_id: str) -> str | None:
        """The real group (reads the key): never show this while :attr:`blinded`."""
        code = self.codes.get(animal_id)
        return self._key().get(code) if code else None

    def label(self, animal_id: str) -> str | None:
        """What operators see as the animal's group: 'group A' while blinded."""
        code = self.codes.get(animal_id)
        if code is None:
            return None
        return f"group {code}" if self.blinded else self.true_group(animal_id)

    def group_labels(self) -> list[str]:
        """Every group as operators see it, in code order while blinded."""
        if self.blinded:
            return [f"group {c}" for c in sorted(self._key() or set(self.codes.values()))]
        return list(self.design.groups)

    # ------------------------------------------------------------------ animals
    def animal(self, animal_id: str) -> Animal:
        a = self.animals.get(animal_id)
        if a is None:
            raise UserError(f"animal {animal_id!r} is not in the study {self.root} "
                            f"(known: {', '.join(sorted(self.animals)) or 'none'})")
        return a

    def timepoint(self, name: str | None) -> str:
        tps = self.design.timepoints
        if name is None:
            if len(tps) == 1:
                return tps[0]
            raise UserError(f"the study has several timepoints ({', '.join(tps)}): name one "
                            f"with --timepoint")
        if name not in tps:
            raise UserError(f"timepoint {name!r} is not declared in {STUDY_FILE} "
                            f"(declared: {', '.join(tps)})")
        return name

    # ------------------------------------------------------------------ sessions
    def sessions(self) -> list[SessionRef]:
        """Every .h5 under sessions/<timepoint>/; UserError for a file whose animal or
        timepoint is not in the study (nothing silently dropped)."""
        base = self.root / SESSIONS_DIR
        out: list[SessionRef] = []
        if not base.is_dir():
            return out
        for tp_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for f in sorted(tp_dir.glob("*.h5")):
                m = SESSION_NAME.match(f.name)
                if tp_dir.name not in self.design.timepoints:
                    raise UserError(f"{f}: timepoint {tp_dir.name!r} is not declared in "
                                    f"{STUDY_FILE}")
                if not m or m["animal"] not in self.animals:
                    raise UserError(f"{f}: the file's animal is not in the study")
                out.append(SessionRef(m["animal"], tp_dir.name, f))
        return out

    def next_session_path(self, animal_id: str, timepoint: str) -> Path:
        """sessions/<timepoint>/<animal>.h5, or -2, -3 ... if recorded before."""
        d = self.root / SESSIONS_DIR / timepoint
        p, n = d / f"{animal_id}.h5", 1
        while p.exists():
            n += 1
            p = d / f"{animal_id}-{n}.h5"
        return p

    # ------------------------------------------------------------------ writing
    def save_animals(self) -> None:
        data = {"animal": [a.model_dump(mode="json", exclude_none=True)
                           for a in self.animals.values()]}
        _write_toml(self.root / ANIMALS_FILE, data)

    def save_allocation(self) -> None:
        _write_toml(self.root / ALLOCATION_FILE, {"run": self.runs, "codes": self.codes})

    def write_key(self, key: dict[str, str]) -> None:
        """The blinding key, created once: never overwritten."""
        path = self.root / KEY_FILE
        try:
            with open(path, "xb") as fh:
                fh.write(b"# the blinding key: code -> group. Do not open before unblinding.\n")
                tomli_w.dump({"key": key}, fh)
        except FileExistsError:
            raise UserError(f"{path}: the allocation key exists; refusing to overwrite it") \
                from None

    def record(self, event: str, **details: Any) -> dict[str, Any]:
        """Append one event to the study log (time-stamped, UTC)."""
        entry = {"time": now().isoformat(), "event": event, **details}
        with open(self.root / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.log.append(entry)
        return entry


def _read_toml(path: Path) -> dict[str, Any]:
    from app.input_limits import load_toml
    try:
        return load_toml(path.read_text(encoding="utf-8"), str(path))   # depth-limited, one line
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _write_toml(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename) so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        tomli_w.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_study(root: str | os.PathLike[str]) -> Study:
    """The study in folder ``root``: design, animals, allocation, log. The one way to
    read a study folder (the CLI, the GUI, the report and exporters use it)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such study folder")
    design = read_design(root / STUDY_FILE)
    animals: dict[str, Animal] = {}
    if (root / ANIMALS_FILE).exists():
        for i, raw in enumerate(_read_toml(root / ANIMALS_FILE).get("animal", [])):
            a = validate_animal(raw, f"{root / ANIMALS_FILE} animal[{i}]")
            if a.id in animals:
                raise UserError(f"{root / ANIMALS_FILE}: animal {a.id} appears twice")
            animals[a.id] = a
    codes, runs = {}, []
    if (root / ALLOCATION_FILE).exists():
        alloc = _read_toml(root / ALLOCATION_FILE)
        codes = {str(k): str(v) for k, v in alloc.get("codes", {}).items()}
        runs = list(alloc.get("run", []))
    log = []
    if (root / LOG_FILE).exists():
        for n, line in enumerate((root / LOG_FILE).read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    log.append(json.loads(line))
                except json.JSONDecodeError:
                    raise UserError(f"{root / LOG_FILE} line {n}: not a JSON object") from None
    return Study(root, design, animals, codes, runs, log)


def new_seed() -> int:
    return secrets.randbelow(2**31)
