"""Reading back an NWB file that ``myoforce export`` wrote: :func:`load_nwb` gives the
same :class:`app.recording.Recording` as the source session (every sample, pulse and
trial), so ``analyze``, ``info`` and GUI replay work on it and give the same results.

The file is read with pynwb (which checks it against the NWB schema); the force is
then opened lazily with h5py (pynwb's handle closed first), so an hour-long file is not
loaded to look at one trial. NWB files from other software are refused in one line:
myoforce needs its trial and pulse tables to know where the contractions are.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import FileFormatError, UserError
from app.nwb import AUX_PREFIX, EXPORT_MARK, FORCE, PULSES, RECORD_MODULE, require_pynwb
from app.nwb.tables import nest
from app.recording import Recording, Trial


def _nan_none(v: Any) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read(path: Path) -> dict[str, Any]:
    """Everything but the force, as plain Python values (the pynwb file is closed)."""
    pynwb = require_pynwb()
    from app.nwb.tables import read_value_table
    try:
        with pynwb.NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            module = nwb.processing.get(RECORD_MODULE)
            export = (read_value_table(module["export"]) if module is not None
                      and "export" in module.data_interfaces else {})
            if export.get("mark") != EXPORT_MARK or FORCE not in nwb.acquisition:
                raise FileFormatError(
                    f"{path}: an NWB file not written by 'myoforce export' (no "
                    f"processing/{RECORD_MODULE}/export record); myoforce reads back the NWB "
                    f"files it exports")
            force = nwb.acquisition[FORCE]
            aux = {k[len(AUX_PREFIX):]: (v.data.name, str(v.unit))
                   for k, v in nwb.acquisition.items() if k.startswith(AUX_PREFIX)}
            out = {"export": export, "rate": float(force.rate), "aux": aux,
                   "conversion": float(force.conversion), "samples": int(force.data.shape[0]),
                   "force_path": force.data.name, "nwb_version": str(io.nwb_version[0] or ""),
                   "start": nwb.session_start_time.isoformat(), "notes": nwb.notes or "",
                   "identifier": nwb.identifier, "protocol": nwb.protocol or ""}
            for name in ("session_metadata", "source_session", "rig_configuration"):
                out[name] = read_value_table(module[name])
            out["audit_entries"] = (len(module["audit_log"]) if "audit_log"
                                    in module.data_interfaces else 0)
            pulses = nwb.events[PULSES] if nwb.events and PULSES in nwb.events else None
            out["pulses"] = (np.asarray(pulses["sample"][:], dtype=np.int64) if pulses is not None
                             else np.zeros(0, np.int64))
            from app.nwb.comments import read_comments
            out["comments"] = read_comments(nwb, float(force.rate))
            from app.nwb.steps import read_steps
            out["step_starts"] = read_steps(nwb, float(force.rate))
            out["trials"] = nwb.trials.to_dataframe() if nwb.trials is not None else None
            out["invalid"] = (nwb.invalid_times.to_dataframe() if nwb.invalid_times is not None
                              else None)
            return out
    except UserError:
        raise
    except Exception as exc:      # h5py/hdmf/pynwb raise many types for damaged files
        raise FileFormatError(f"{path}: not a readable NWB file "
                              f"({type(exc).__name__}: {_first_line(exc)})") from None


def _trials(df: Any, pulses: np.ndarray) -> list[Trial]:
    if df is None:
        return []
    out = []
    for tid, r in df.iterrows():
        a, b = int(r["start_sample"]), int(r["stop_sample"])
        out.append(Trial(index=int(tid), kind=str(r["kind"]), start_sample=a, stop_sample=b,
                         stim_samples=pulses[(pulses >= a) & (pulses < b)],
                         frequency_hz=_nan_none(r["frequency_hz"]),
                         current_mA=_nan_none(r["current_mA"]),
                         pulse_width_ms=_nan_none(r["pulse_width_ms"]), status=str(r["status"]),
                         step=str(r["step"]), length_mm=_nan_none(r["length_mm"])))
    return out


def _exclusions(df: Any) -> dict[int, Any]:
    """The trials a researcher excluded, from the trials table's ``excluded`` and
    ``exclusion_reason`` columns (an export written before them: none)."""
    from app.recorder.exclusions import TrialExclusion
    if df is None or "excluded" not in df.columns:
        return {}
    reasons = df["exclusion_reason"] if "exclusion_reason" in df.columns else None
    return {int(tid): TrialExclusion(int(tid), "" if reasons is None else str(reasons[tid]),
                                     source="NWB export")
            for tid, flag in df["excluded"].items() if bool(flag)}


def _metadata(d: dict[str, Any]) -> dict[str, Any]:
    """The session metadata as recorded, with the study's facts the export used laid
    over it as the export did (:func:`app.nwb.study_facts.merged_metadata`): an unblinded
    study's real group, an exclusion."""
    from app.nwb.study_facts import merged_metadata
    study = {k[len("study."):]: v for k, v in d["export"].items() if k.startswith("study.")}
    return merged_metadata(study, d["session_metadata"])


def load_nwb(path: str | os.PathLike[str], *, lazy: bool = True) -> Recording:
    """The exported session as a Recording (format 'nwb'); the force in mN."""
    import h5py

    p = Path(path)
    d = _read(p)
    f = h5py.File(str(p), "r")
    try:
        ds = f[d["force_path"]]
        aux = {name: f[path] if lazy else np.asarray(f[path][:], dtype=np.float32)
               for name, (path, _) in d["aux"].items()}
        if d["conversion"] == 1e-3 and lazy:
            force: Any = ds
        else:
            force = np.asarray(ds[:], dtype=np.float64) * (d["conversion"] * 1000.0)
            if d["conversion"] == 1e-3:
                force = force.astype(ds.dtype)
            f.close()
    except Exception as exc:
        f.close()
        raise FileFormatError(f"{p}: damaged NWB file ({_first_line(exc)})") from None
    limits = d["export"].get("force_limits_mN")
    return Recording(source=str(p), format="nwb", sample_rate_hz=d["rate"], force_mN=force,
                     exclusions=_exclusions(d["trials"]),
                     force_limits_mN=tuple(limits) if limits else None,
                     stim_samples=d["pulses"], trials=_trials(d["trials"], d["pulses"]),
                     metadata=_metadata(d),
                     complete=bool(d["source_session"].get("complete", True)), aux=aux,
                     aux_units={name: unit for name, (_, unit) in d["aux"].items()})


def nwb_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``myoforce info`` for an exported NWB file: the source session's description,
    with the counts taken from the NWB file itself."""
    p = Path(path)
    d = _read(p)
    src, export = d["source_session"], d["export"]
    rows = d["trials"]
    kinds: dict[str, int] = {}
    for k in ([] if rows is None else rows["kind"]):
        kinds[str(k)] = kinds.get(str(k), 0) + 1
    inv = d["invalid"]
    gaps = [] if inv is None else [
        {"sample": int(s), "count": int(c), "cause": str(k)}
        for s, c, k in zip(inv["start_sample"], inv["sample_count"], inv["cause"])]
    by_cause: dict[str, int] = {}
    for g in gaps:
        by_cause[g["cause"]] = by_cause.get(g["cause"], 0) + g["count"]
    info = nest(src)            # everything the source's 'myoforce info' said, then
    info.pop("file", None)      # what the NWB file itself holds instead
    info.update({
        "path": str(p), "format": "NWB", "format_version": d["nwb_version"],
        "software_version": f"{str(export.get('software', '')).removeprefix('myoforce ')}, "
                            f"exported from {src.get('file', '')}: {src.get('format', '')} "
                            f"{src.get('format_version', '')} written by myoforce "
                            f"{src.get('software_version', '')}",
        "complete": bool(src.get("complete", True)), "status": src.get("status", ""),
        "start_time_utc": src.get("start_time_utc") or d["start"], "sample_rate_hz": d["rate"],
        "samples": d["samples"], "duration_s": d["samples"] / d["rate"],
        "pulses": int(d["pulses"].size), "trials": 0 if rows is None else len(rows),
        "trial_kinds": kinds,
        "aborted_trials": 0 if rows is None else int((rows["status"] == "aborted").sum()),
        "gaps": gaps, "gap_samples": sum(g["count"] for g in gaps),
        "missing_samples_by_cause": by_cause, "audit_entries": d["audit_entries"],
        "metadata": d["session_metadata"], "rig": nest(d["rig_configuration"]),
        "comments": d["comments"],
        # the steps table; an export written before it had one: the source's record of them
        "step_starts": (d["step_starts"] if d["step_starts"] is not None
                        else info.get("step_starts") or []),
        "devices": info.get("devices") or {}, "protocol": bool(d["protocol"]),
        "warnings": list(export.get("warnings") or []), "nwb_identifier": d["identifier"]})
    return info
