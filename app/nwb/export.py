""":func:`export_session`: one myoforce session file -> one NWB file (pynwb).

The session is read through the session reader (:func:`app.recorder.reader.
load_recording`, the loader ``analyze`` uses), so the exported trials and force are
what every other command sees; it is analysed with the given settings and written as
an NWB file (mapping: ``docs/nwb.md``). The force is streamed from the source into the
NWB file in buffers (:mod:`app.nwb.stream`). A session that never completed (crash) or
was aborted exports with a warning stored in the file's ``notes`` and returned to the
caller to print.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from app import __version__
import numpy as np

from app.errors import FileFormatError
from app.nwb import AUX_PREFIX, EXPORT_MARK, FLAGS, FORCE, require_pynwb
from app.nwb.batch import write_atomically
from app.nwb.stream import SourceReadError, chunked_dataset, raw_source, unreadable_ranges
from app.nwb.study_facts import merged_metadata
from app.nwb.subject import (experiment_description, experimenters, parse_idn, pharmacology,
                             subject_fields)
from app.recorder.records import Gap

SOFTWARE = f"myoforce {__version__}"


@dataclass
class ExportReport:
    """What one export wrote, and what the user must be told."""

    source: str
    output: str
    status: str
    complete: bool
    samples: int = 0
    pulses: int = 0
    trials: int = 0
    gaps: int = 0
    seconds: float = 0.0
    analysis_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)   # stored in the file and printed
    notes: list[str] = field(default_factory=list)      # DANDI metadata gaps, printed


def status_warnings(status: str, complete: bool, recovered_from: str | None) -> list[str]:
    """The warnings a session's end state calls for (none for a completed session)."""
    if status == "aborted":
        return ["the session was aborted (status 'aborted'): the protocol did not run to "
                "its end; trials after the abort are missing"]
    if status == "failed":
        return ["the recording failed (status 'failed'): writing stopped early; data after "
                "the failure is missing"]
    if status == "recovered":
        return [f"the session never completed (its writer died); this is the copy "
                f"'myoforce recover' made of it{f' from {recovered_from}' if recovered_from else ''}"]
    if not complete:
        return [f"the session never completed (status {status or 'unknown'!r}: the recorder "
                f"did not close the file - a crash or power loss); exported what was flushed"]
    return []


def _start_time(text: str, path: Path, warnings: list[str]) -> datetime:
    try:
        t = datetime.fromisoformat(text)
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        warnings.append(f"no valid session start time ({text!r}); the file's modification "
                        f"time was used")
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)


def _devices(nwbfile: Any, devices: dict[str, str], rig: dict[str, Any]) -> None:
    """One NWB Device (with its DeviceModel) per device of the session."""
    for name, identity in devices.items():
        idn = parse_idn(identity)
        extra = ""
        if name == "stimulator":
            iso = rig.get("stimulator", {}) or rig.get("isolator", {})
            extra = f"; rig: {rig.get('name', '')}; stimulator/isolator: {json.dumps(iso)}; " \
                    f"limits: {json.dumps(rig.get('limits', {}))}"
        model = nwbfile.create_device_model(
            name=f"{name} model {idn['model']}", manufacturer=idn["manufacturer"],
            model_number=idn["model"],
            description=f"firmware {idn['firmware']}" if "firmware" in idn else None)
        role = {"stimulator": "nerve stimulator (pulse generator driving a stimulus isolator)",
                "amplifier": "force transducer amplifier and digitiser (force channel and "
                             "stimulus trigger input)"}.get(name, name)
        nwbfile.create_device(name=name, description=f"{role}; identity: {identity}{extra}",
                              serial_number=idn.get("serial"), model=model)


def _records(sf: Any, rec: Any, info: dict[str, Any], report: ExportReport,
             study: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The key/value records of ``processing/session_record``."""
    source = {k: v for k, v in info.items()
              if k not in ("metadata", "rig", "gaps", "path")}
    source["file"] = sf.path.name
    export = {"mark": EXPORT_MARK, "software": SOFTWARE, "source": report.source,
              "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "status": report.status, "complete": report.complete,
              "warnings": report.warnings, "dandi_notes": report.notes,
              "force_limits_mN": list(rec.force_limits_mN) if getattr(
                  rec, "force_limits_mN", None) else None, "study": study or None}
    return [("session_metadata", "the session metadata as recorded (myoforce "
             "SessionMetadata; the Subject and file fields are made from it)", rec.metadata),
            ("rig_configuration", "the rig: name, stimulus isolator, stimulation limits",
             sf.rig),
            ("source_session", "the source session file as 'myoforce info' describes it",
             source),
            ("export", "the export: software, source, warnings", export)]


def protocol_yaml(sf: Any) -> str | None:
    """The protocol as run: its YAML source, else its parsed form as YAML."""
    if sf.protocol_text:
        return sf.protocol_text
    if sf.protocol:
        import yaml
        return yaml.safe_dump(sf.protocol, sort_keys=False)
    return None


def _new_nwbfile(sf: Any, md: dict[str, Any], report: ExportReport) -> Any:
    """The NWBFile with its descriptive fields and Subject (docs/nwb.md, File/Subject)."""
    pynwb = require_pynwb()
    from pynwb.file import Subject

    protocol = sf.protocol or {}
    name = protocol.get("name") or "myoforce session"
    description = f"{name}: {protocol.get('description', '')}".rstrip(": ")
    if report.warnings:
        description += f" [session status: {report.status or 'incomplete'}]"
    if md.get("excluded"):              # marked wherever a reader looks first
        description = f"EXCLUDED from the study's analysis ({md['excluded']}). {description}"
        report.warnings.append(f"animal {md.get('subject_id', '')} is excluded from the "
                               f"study ({md['excluded']}): its data are not part of the "
                               f"study's analysis")
    subject, report.notes = subject_fields(md)
    return pynwb.NWBFile(
        session_description=description, identifier=str(uuid.uuid4()),
        session_start_time=_start_time(sf.start_time_utc, sf.path, report.warnings),
        experiment_description=experiment_description(md, name),
        experimenter=experimenters(md), institution=sf.rig.get("institution"),
        lab=sf.rig.get("lab"), session_id=sf.path.stem, pharmacology=pharmacology(md),
        surgery=(f"{md.get('side', '')} {md.get('muscle', '')}: motor nerve exposed, distal "
                 f"tendon tied to the force transducer").strip() if md.get("muscle") else None,
        stimulus_notes="supramaximal electrical stimulation of the motor nerve; each pulse "
                       "is a row of events/stimulus_pulses",
        keywords=["muscle force", "isometric contraction", "twitch", "tetanus"],
        was_generated_by=[["myoforce", __version__]],
        source_script=f"{SOFTWARE}: myoforce export (from {sf.path.name})",
        source_script_file_name=sf.path.name,
        notes="\n".join(report.warnings) or None, protocol=protocol_yaml(sf),
        subject=Subject(**subject))


def _acquisition(nwbfile: Any, sf: Any, rec: Any, bad: list[tuple[int, int, str]],
                 warnings: list[str]) -> None:
    """Force, flags and auxiliary channels, each streamed from the source."""
    import pynwb
    fs, n, cal = rec.sample_rate_hz, rec.samples, sf.calibration
    nwbfile.add_acquisition(pynwb.TimeSeries(
        name=FORCE, data=chunked_dataset(raw_source(rec.force_mN), n, "float32", bad, np.nan),
        unit="N", conversion=1e-3, resolution=abs(cal.scale_mN_per_count) * 1e-3, rate=fs,
        starting_time=0.0, continuity="continuous",
        description="isometric muscle force from the force transducer, stored in mN "
                    "(conversion 0.001 to N); NaN where no sample was recorded or a sample "
                    "could not be verified (see invalid_times)",
        comments=f"calibration: {cal.scale_mN_per_count} mN/count, offset "
                 f"{cal.offset_counts} counts"))
    nwbfile.add_acquisition(pynwb.TimeSeries(
        name=FLAGS, data=chunked_dataset(sf.flags, n, "uint8", bad, 0), unit="n.a.", rate=fs,
        starting_time=0.0, continuity="instantaneous",
        description="per-sample amplifier flag bits: 1 trigger edge (stimulus pulse), "
                    "2 trigger level, 4 over range (saturated), 8 end of stream"))
    _aux(nwbfile, rec, bad, warnings)


def _build(sf: Any, rec: Any, result: Any, cfg: Any, report: ExportReport,
           bad: list[tuple[int, int, str]], study: dict[str, Any]) -> Any:
    """The NWBFile in memory (the force still a lazy stream from the source)."""
    from app.nwb.comments import add_comments
    from app.nwb.record import analysis_module, record_module
    from app.nwb.steps import add_steps
    from app.nwb.tables import add_invalid_times, add_pulses, add_trials
    from app.recorder.reader import session_info

    md = merged_metadata(study, rec.metadata, str(sf.path))
    nwbfile = _new_nwbfile(sf, md, report)
    _devices(nwbfile, sf.devices, sf.rig)
    _acquisition(nwbfile, sf, rec, bad, report.warnings)
    gaps = sorted(sf.gaps + [Gap(a, b - a, cause) for a, b, cause in bad],
                  key=lambda g: g.sample)
    add_invalid_times(nwbfile, gaps, rec.sample_rate_hz)
    add_pulses(nwbfile, rec)
    add_comments(nwbfile, sf.comments, rec.sample_rate_hz)
    add_steps(nwbfile, sf.step_starts, rec.sample_rate_hz, rec.samples)
    add_trials(nwbfile, rec, result.trials, {r.index: r.wall_time_utc for r in sf.trial_records})
    analysis_module(nwbfile, cfg, result.summary, SOFTWARE)
    record_module(nwbfile, _records(sf, rec, session_info(sf.path), report, study), sf.audit,
                  sf.analysis)
    report.samples, report.pulses = rec.samples, int(len(rec.stim_samples))
    report.trials, report.gaps = len(rec.trials), len(gaps)
    return nwbfile


def _leave_out_unverified(rec: Any, report: ExportReport) -> list[tuple[int, int, str]]:
    """Samples the session reader refuses (damaged blocks, no checksum): their ranges,
    with their pulses taken out of ``rec`` and a warning added. Never exported as data."""
    bad = unreadable_ranges(rec.force_mN)
    if not bad:
        return []
    stim = np.asarray(rec.stim_samples, dtype=np.int64)
    keep = np.ones(stim.size, bool)
    for a, b, _ in bad:
        keep &= ~((stim >= a) & (stim < b))
    rec.stim_samples = stim[keep]
    for t in rec.trials:
        t.stim_samples = t.stim_samples[np.isin(t.stim_samples, rec.stim_samples)]
    causes = sorted({c for _, _, c in bad})
    report.warnings.append(
        f"{sum(b - a for a, b, _ in bad)} samples in {len(bad)} range(s) are not verified "
        f"({'; '.join(causes)}): exported as NaN force and 0 flags, listed in invalid_times; "
        f"{int((~keep).sum())} pulse(s) in them left out")
    return bad


def _aux(nwbfile: Any, rec: Any, bad: list[tuple[int, int, str]],
         warnings: list[str]) -> None:
    """Auxiliary analog channels (DAQ rigs) as TimeSeries beside the force. A channel's
    own unverified samples (its CRC-32, format 1.2) are NaN too, with a warning; they
    are not invalid_times, which would invalidate the force as well."""
    import pynwb
    for name, data in getattr(rec, "aux", {}).items():
        own = unreadable_ranges(data)
        if own:
            warnings.append(
                f"aux channel '{name}': {sum(b - a for a, b, _ in own)} samples in "
                f"{len(own)} range(s) are not verified "
                f"({'; '.join(sorted({c for _, _, c in own}))}): exported as NaN")
        nwbfile.add_acquisition(pynwb.TimeSeries(
            name=f"{AUX_PREFIX}{name}",
            data=chunked_dataset(raw_source(data), rec.samples, "float32", bad + own, np.nan),
            unit=rec.aux_units.get(name, "V") or "V", rate=rec.sample_rate_hz,
            starting_time=0.0, continuity="continuous",
            description=f"auxiliary analog channel '{name}' recorded beside the force "
                        f"(same samples); NaN where no sample was recorded or a sample "
                        f"could not be verified"))


def export_session(source: str | os.PathLike[str], output: str | os.PathLike[str],
                   config: Any = None, study: dict[str, Any] | None = None) -> ExportReport:
    """Export ``source`` (a myoforce .h5 session) to ``output`` (.nwb), atomically.

    ``study``: what the session's study folder says about it
    (:func:`app.nwb.study_facts.session_facts`): subject facts fill what the session's
    own metadata lacks; the group as the study's blinding allows replaces the recorded
    one; an exclusion is marked in the file. The caller checks the output name first
    (:func:`app.nwb.batch.plan_outputs`)."""
    require_pynwb()
    from pynwb import NWBHDF5IO

    from app.analysis.config import AnalysisConfig
    from app.analysis.session import analyze_recording
    from app.importers import detect_format
    from app.recorder.reader import load_recording, open_session

    started = time.perf_counter()
    src, out = Path(source), Path(output)
    fmt = detect_format(src)
    if fmt != "myoforce-h5":
        raise FileFormatError(f"{src}: only myoforce session files (.h5) export to NWB, "
                              f"not {fmt} files")
    cfg = config or AnalysisConfig()
    rec = load_recording(src, lazy=True)
    try:
        with open_session(src) as sf:
            report = ExportReport(str(src), str(out), sf.status, sf.complete)
            report.warnings = status_warnings(sf.status, sf.complete, sf.recovered_from)
            report.warnings += list(sf.warnings)
            t0 = time.perf_counter()
            result = analyze_recording(rec, cfg)
            report.analysis_seconds = time.perf_counter() - t0
            if result.error:
                report.warnings.append(f"analysis: {result.error}")
            try:
                bad = _leave_out_unverified(rec, report)
                nwbfile = _build(sf, rec, result, cfg, report, bad, study or {})

                def write(tmp: Path) -> None:
                    with NWBHDF5IO(str(tmp), "w") as io:
                        io.write(nwbfile)
                write_atomically(out, write)
            except SourceReadError as exc:
                raise FileFormatError(f"{src}: damaged, cannot export: {exc}") from None
    finally:
        _close(rec)
    report.seconds = time.perf_counter() - started
    return report


def _close(rec: Any) -> None:
    """Close the source file a lazy Recording keeps open."""
    f = getattr(rec.force_mN, "file", None)
    if f is not None and getattr(f.id, "valid", False):
        f.close()
