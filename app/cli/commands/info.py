"""``myoforce info FILE [--json]``: what a session file holds, including crashed ones."""
from __future__ import annotations

import argparse
import json
import os

from app.terminal import printable


def file_info(path: str) -> dict:
    """``session_info`` of a session file, or the same description of an exported NWB file."""
    if path.lower().endswith((".ddf", ".csv")) and os.path.isfile(path):
        from app.errors import UserError
        raise UserError(f"{path}: info describes myoforce session (.h5) and NWB (.nwb) files; "
                        f"for a DDF or CSV recording use 'myoforce analyze {path}'")
    if path.lower().endswith(".nwb"):
        from app.importers import detect_format
        if detect_format(path) == "nwb":
            from app.nwb.reader import nwb_info
            return nwb_info(path)
    from app.recorder.reader import session_info      # h5py: loaded only when it runs
    return session_info(path)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info", help="summarise a session file",
        description="Summarise a myoforce session file: duration, trials, pulses, gaps, "
                    "metadata. Works on files still being written and on files whose writer "
                    "died (complete: false).")
    p.add_argument("file", help="session file (.h5) or an NWB file myoforce exported (.nwb)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _fmt_duration(s: float) -> str:
    m, sec = divmod(s, 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{sec:06.3f}" if h else f"{m}:{sec:06.3f}"


def run(args: argparse.Namespace) -> int:
    info = file_info(args.file)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    state = "yes" if info["complete"] else "NO (still being written, or the writer died: " \
                                             "see `myoforce recover`)"
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(info["trial_kinds"].items()))
    lines = [
        ("file", info["path"]),
        ("format", f"{info['format']} {info['format_version']} "
                   f"(myoforce {info['software_version']})"),
        ("complete", f"{state}; status {info['status']}"),
        ("started", info["start_time_utc"]),
        ("ended", info["end_time_utc"] or "-"),
        ("sample rate", f"{info['sample_rate_hz']:g} Hz"),
        ("samples", f"{info['samples']} ({_fmt_duration(info['duration_s'])}, "
                    f"{info['duration_s']:.3f} s)"),
        ("pulses", str(info["pulses"])),
        ("trials", f"{info['trials']}" + (f" ({kinds})" if kinds else "")
                   + (f", {info['aborted_trials']} aborted" if info["aborted_trials"] else "")),
        ("gaps", f"{len(info['gaps'])} ({info['gap_samples']} samples missing"
                 + "".join(f"; {c}: {n}" for c, n in info["missing_samples_by_cause"].items())
                 + ")"),
        ("lost samples", f"{info['lost_samples']} (dropped by the recorder)"),
        ("audit entries", str(info["audit_entries"])),
    ]
    if info["recovered_from"]:
        lines.append(("recovered from", info["recovered_from"]))
    unchecked = set(info.get("aux_unchecked") or [])
    for c in info.get("aux_channels") or []:
        where = f", {c['channel']}" if c.get("channel") else ""
        if c["name"] in unchecked:
            where += " (unchecked: no checksums in this format)"
        lines.append((f"aux {c['name']}", f"{c['unit']}{where}"))
    for name, identity in info["devices"].items():
        lines.append((f"device {name}", identity))
    revised = {k for r in info.get("metadata_revisions") or [] for k in r["changes"]}
    for key, value in info["metadata"].items():
        lines.append((key, str(value) + (" (revised)" if key in revised else "")))
    for r in info.get("metadata_revisions") or []:
        changed = ", ".join(f"{k} {r['previous'].get(k) if r['previous'].get(k) is not None else '(none)'}"
                            f" -> {v}" for k, v in r["changes"].items())
        lines.append(("metadata revision", f"{r['time_utc']} {r['source']}: {changed}"))
    for c in info.get("comments") or []:
        after = f" (added afterwards, {c['source'] or 'annotate'})" if c.get("added_afterwards") else ""
        lines.append(("comment", f"{_fmt_duration(c['time_s'])}  {c['text']}{after}"))
    for e in info.get("excluded_trials") or []:
        lines.append(("excluded trial", f"{e['trial']}: {e['reason']} ({e['time_utc']}"
                                        f"{', ' + e['source'] if e.get('source') else ''})"))
    for w in info["warnings"]:
        lines.append(("warning", w))
    from app.cli.terminal import hanging, terminal_width
    width, columns = max(len(k) for k, _ in lines), terminal_width()
    for k, v in lines:
        print(hanging(printable(f"{k:<{width}}  {v}"), width + 2, columns))
    return 0
