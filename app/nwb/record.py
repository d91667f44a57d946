"""The two processing modules of an exported file.

``analysis``: the settings the analysis ran with and the session summary (Pt, Po,
Pt/Po, f50, fatigue index, specific force...), each a long key/value table (one row
per setting or measure; nested results with dotted keys).

``session_record``: what NWB has no field for but a myoforce session keeps, so nothing
is lost: the session metadata as recorded, the rig configuration, the source file's
description, the export report, the ``audit_log`` (operator actions, stimulator and
amplifier commands) and ``live_analysis`` (results the protocol runner computed during
the session). The protocol YAML as run is ``/general/protocol``.

NWB's inspector flags any dictionary written as text inside a table, so structured
values are flattened into dotted keys (:func:`app.nwb.tables.flat_items`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from app.nwb import ANALYSIS_MODULE, RECORD_MODULE
from app.nwb.tables import dynamic_table, flat_items, value_table


def analysis_module(nwbfile: Any, config: Any, summary: Mapping[str, Any],
                    software: str) -> None:
    """``processing/analysis``: analysis settings and the session summary."""
    module = nwbfile.create_processing_module(
        name=ANALYSIS_MODULE,
        description=f"contraction analysis by {software} at export (definitions: myoforce "
                    f"docs/analysis.md); per-trial results are columns of the trials table")
    fields = dataclasses.fields(config)
    module.add(value_table(
        "analysis_settings", "every setting of the analysis, one row each (myoforce "
                             "AnalysisConfig)",
        [(f.name, getattr(config, f.name)) for f in fields],
        extra=[("unit", "unit of the value ('' if none)",
                [f.metadata.get("unit", "") for f in fields]),
               ("meaning", "what the setting does", [f.metadata.get("help", "") for f in fields])]))
    from app.labels import FIELDS, label
    items = flat_items(summary)
    module.add(value_table(
        "session_summary", "the session summary, one row per measure (definitions: myoforce "
                           "docs/analysis.md); nested results have dotted keys",
        items, extra=[("label", "the measure's name as myoforce shows it",
                       [label(k) for k, _ in items]),
                      ("unit", "unit of the value ('' if none; also the key's suffix)",
                       [FIELDS.get(k, ("", "", None))[1] for k, _ in items])]))


def _audit_extra(fields_json: str) -> str:
    """An audit row's JSON fields as 'key=value; ...' (no dictionary text in tables)."""
    import json
    try:
        obj = json.loads(fields_json or "{}")
    except ValueError:
        return fields_json
    if not isinstance(obj, dict):
        return fields_json
    return "; ".join(f"{k}={v}" for k, v in flat_items(obj))


def record_module(nwbfile: Any, records: Sequence[tuple[str, str, Mapping[str, Any]]],
                  audit: Sequence[Any], live: Sequence[Mapping[str, Any]]) -> None:
    """``processing/session_record``. ``records``: ``(table name, description, mapping)``
    for each key/value record (metadata, rig, source, export)."""
    module = nwbfile.create_processing_module(
        name=RECORD_MODULE,
        description="the myoforce session record that NWB has no field for: session metadata "
                    "as recorded, rig, source file, export report, audit log, live results")
    for name, description, mapping in records:
        module.add(value_table(name, description, flat_items(mapping)))
    if audit:
        module.add(dynamic_table(
            "audit_log", "the session's audit log: operator actions, stimulator and amplifier "
                         "commands, recorder events, in order",
            [("time_utc", "ISO 8601 UTC wall time", [a.time_utc for a in audit]),
             ("sample", "stream sample reached when the entry was made (approximate)",
              [int(a.sample) for a in audit]),
             ("kind", "entry kind", [a.kind for a in audit]),
             ("message", "message", [a.message for a in audit]),
             ("extra", "extra fields as key=value; ...", [_audit_extra(a.fields) for a in audit])]))
    if live:
        rows = [(a["name"], a["time_utc"], k, v) for a in live
                for k, v in (flat_items(a["result"]) if isinstance(a["result"], Mapping)
                             else [("value", a["result"])])]
        module.add(value_table(
            "live_analysis", "results the protocol runner computed during the session (e.g. "
                             "the supramaximal current, the optimal length), one row per value",
            [(r[2], r[3]) for r in rows],
            extra=[("result_name", "the result the value belongs to", [r[0] for r in rows]),
                   ("time_utc", "ISO 8601 UTC wall time the result was stored",
                    [r[1] for r in rows])]))
