"""NWB export: a simulated Protocol 1 session exported, inspected by nwbinspector, read
back with pynwb and compared with the source sample by sample, pulse by pulse and
trial by trial; ``analyze`` gives the same results on both; crashed and aborted
sessions export with their warning."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from app.analysis import AnalysisConfig, analyze_recording  # noqa: E402
from app.cli.main import main  # noqa: E402
from app.importers import load_recording  # noqa: E402
from app.live.sources import load_for_replay  # noqa: E402
from app.metadata import SessionMetadata  # noqa: E402
from app.nwb import stream  # noqa: E402
from app.nwb.export import export_session  # noqa: E402
from app.recorder.reader import open_session, session_info  # noqa: E402
from protocols import LIBRARY  # noqa: E402
from tests.helpers_recording import write_synthetic_session  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROTOCOL1 = (LIBRARY / "protocol1-demo.yaml").read_text()
METADATA = SessionMetadata(
    subject_id="rat-07", species="rat", strain="Wistar", sex="male", body_mass_g=312.5,
    age_weeks=12, muscle="EDL", side="left", muscle_length_mm=30.0, muscle_mass_mg=150.0,
    group="treated", compound="magnesium aspartate dihydrate", dose_mg_per_kg=400,
    vehicle="water", anesthesia="isoflurane 2%", operator="Curie, Marie")
GAP = (5200, 37)        # samples lost between the twitches: NaN, and an invalid time


def _session(path: Path, **kwargs):
    return write_synthetic_session(path, metadata=METADATA, protocol_text=PROTOCOL1,
                                   gaps=[GAP], **kwargs)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A Protocol 1-like session (twitches, a tetanus, a gap, full metadata) and its NWB
    export, streamed in many small buffers so buffer boundaries are crossed."""
    d = tmp_path_factory.mktemp("nwb")
    truth = _session(d / "rat07.h5")
    mp = pytest.MonkeyPatch()
    mp.setattr(stream, "CHUNK_SAMPLES", 1000)
    mp.setattr(stream, "BUFFER_SAMPLES", 3000)
    try:
        report = export_session(truth.path, d / "rat07.nwb")
    finally:
        mp.undo()
    return truth, report, d / "rat07.nwb"


def test_nwbinspector_finds_nothing_critical_or_against_best_practice(exported):
    _, _, out = exported
    findings = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(out)))
    serious = [f for f in findings if f.importance in (nwbinspector.Importance.CRITICAL,
               nwbinspector.Importance.BEST_PRACTICE_VIOLATION)]
    assert serious == [], [f"{f.check_function_name}: {f.message}" for f in serious]
    # the suggestions that remain, and why they stay (docs/nwb.md):
    allowed = {
        # 'analysis' and 'session_record' hold muscle analysis and the session record;
        # none of NWB's module names (ecephys, behavior, misc...) means either
        "check_processing_module_name",
        # the session metadata has no institution field (a rig file may give one)
        "check_institution",
        # one gap in this session: one invalid_times row is the honest table
        "check_single_row",
    }
    assert {f.check_function_name for f in findings} <= allowed, findings


def test_every_sample_pulse_and_trial_reads_back_exactly(exported):
    truth, report, out = exported
    with open_session(truth.path) as sf:
        records, flags, gaps = sf.trial_records, np.asarray(sf.flags[:]), sf.gaps
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        force = nwb.acquisition["force"]
        assert force.unit == "N" and force.conversion == 1e-3 and force.rate == 10_000.0
        assert force.data.compression == "gzip" and force.data.chunks == (1000,)
        np.testing.assert_array_equal(force.data[:], truth.force_mN)      # NaN in the gap
        np.testing.assert_array_equal(nwb.acquisition["amplifier_flags"].data[:], flags)
        pulses = nwb.events["stimulus_pulses"]
        np.testing.assert_array_equal(pulses["sample"][:], truth.pulses)
        np.testing.assert_array_equal(pulses["timestamp"][:], truth.pulses / 10_000.0)
        np.testing.assert_array_equal(pulses["duration"][:], np.full(truth.pulses.size, 2e-4))
        assert list(pulses["frequency_hz"][:]).count(100.0) == 20      # the tetanic train
        trials = nwb.trials.to_dataframe()
        assert list(trials.index) == [r.index for r in records]
        for r, (_, row) in zip(records, trials.iterrows()):
            for name in ("start_sample", "stop_sample", "kind", "step", "status",
                         "current_mA", "pulse_width_ms", "length_mm", "wall_time_utc"):
                assert row[name] == getattr(r, name) or (
                    math.isnan(getattr(r, name)) and math.isnan(row[name])), name
            assert row["pulse_count"] == r.pulses
            assert row["start_time"] == r.start_sample / 10_000.0
            assert row["frequency_hz"] == r.frequency_hz or math.isnan(r.frequency_hz)
            assert row["peak_force_mN"] > 0 and row["error"] == ""
        inv = nwb.invalid_times.to_dataframe()
        assert [(int(a), int(c)) for a, c in zip(inv["start_sample"], inv["sample_count"])] \
            == [(g.sample, g.count) for g in gaps] == [GAP]
        assert nwb.protocol == PROTOCOL1
        s = nwb.subject
        assert (s.species, s.sex, s.age, s.weight, s.subject_id, s.strain) == (
            "Rattus norvegicus", "M", "P12W", "0.3125 kg", "rat-07", "Wistar")
        assert "isoflurane" in nwb.pharmacology and nwb.experimenter == ("Curie, Marie",)
        assert nwb.devices["stimulator"].model.manufacturer == "Agilent Technologies"
        assert "max_current_mA" in nwb.devices["stimulator"].description
        settings = nwb.processing["analysis"]["analysis_settings"].to_dataframe()
        assert dict(zip(settings["key"], settings["value"]))["baseline_ms"] == 20.0
    assert report.warnings == [] and report.notes == []
    assert (report.samples, report.pulses, report.trials, report.gaps) == (
        truth.force_mN.size, truth.pulses.size, 3, 1)


def test_analysis_of_the_nwb_file_equals_that_of_the_source(exported):
    truth, _, out = exported
    src, nwb = load_recording(truth.path), load_recording(out)
    assert nwb.format == "nwb" and nwb.metadata == src.metadata
    np.testing.assert_array_equal(nwb.force_mN[:], src.force_mN[:])
    for a, b in zip(nwb.trials, src.trials):
        assert {**a.__dict__, "stim_samples": None} == {**b.__dict__, "stim_samples": None}
        np.testing.assert_array_equal(a.stim_samples, b.stim_samples)
    cfg = AnalysisConfig()
    ra, rb = analyze_recording(nwb, cfg).to_dict(), analyze_recording(src, cfg).to_dict()
    for r in (ra, rb):
        r.pop("file"), r.pop("format")
    assert ra == rb and ra["summary"]["pt_mN"] > 0 and ra["summary"]["po_mN"] > 0
    # the summary stored in the file is the same analysis
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        from app.nwb.tables import read_value_table
        stored = read_value_table(io.read().processing["analysis"]["session_summary"])
    assert stored["pt_mN"] == pytest.approx(ra["summary"]["pt_mN"], rel=1e-12)
    assert stored["po_mN"] == pytest.approx(ra["summary"]["po_mN"], rel=1e-12)


def test_cli_analyze_info_and_replay_work_on_the_nwb_file(exported, capsys):
    truth, _, out = exported
    assert main(["analyze", str(out), "--json"]) == 0
    from_nwb = json.loads(capsys.readouterr().out)
    assert main(["analyze", str(truth.path), "--json"]) == 0
    from_h5 = json.loads(capsys.readouterr().out)
    assert from_nwb["trials"] == from_h5["trials"] and from_nwb["summary"] == from_h5["summary"]
    assert main(["info", str(out), "--json"]) == 0
    info, src = json.loads(capsys.readouterr().out), session_info(truth.path)
    differ = {"path", "format", "format_version", "software_version"}
    assert {k: v for k, v in info.items() if k in src and k not in differ} == \
        {k: v for k, v in src.items() if k not in differ}           # every key, same value
    assert info["format"] == "NWB" and "exported from rat07.h5" in info["software_version"]
    recording, replay_info = load_for_replay(out)
    assert recording.samples == truth.force_mN.size and replay_info["status"] == "complete"


def _crash(path: Path) -> None:
    """A session whose recording process was killed (SIGKILL) after its first flushes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers_recording", "produce", str(path), "--flush",
         "0.1", "--seconds", "60", "--trial-every-s", "0.1"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            m = re.match(r"progress .* flushed=(\d+) trials=(\d+)", line)
            if m and int(m.group(1)) >= 5000 and int(m.group(2)) >= 3:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.05)


def test_a_crashed_session_exports_with_a_stored_and_printed_warning(tmp_path, capsys):
    src = tmp_path / "crashed.h5"
    _crash(src)
    assert main(["export", str(src), "--nwb", str(tmp_path / "crashed.nwb")]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "never completed" in err
    with pynwb.NWBHDF5IO(str(tmp_path / "crashed.nwb"), "r") as io:
        nwb = io.read()
        assert "never completed" in nwb.notes and "status: recording" in nwb.session_description
        n = nwb.acquisition["force"].data.shape[0]
    rec = load_recording(tmp_path / "crashed.nwb")
    assert rec.complete is False and rec.samples == n == load_recording(src).samples


def test_an_aborted_session_exports_with_its_status(tmp_path, capsys):
    _session(tmp_path / "a.h5", status="aborted")
    assert main(["export", str(tmp_path / "a.h5"), "--nwb", str(tmp_path / "a.nwb")]) == 0
    out = capsys.readouterr()
    assert "status aborted" in out.out and "aborted" in out.err
    with pynwb.NWBHDF5IO(str(tmp_path / "a.nwb"), "r") as io:
        assert "aborted" in io.read().notes
    assert main(["info", str(tmp_path / "a.nwb")]) == 0
    assert "status aborted" in capsys.readouterr().out


def test_quality_flags_and_every_result_field_become_trial_columns(tmp_path):
    """Lost samples inside a twitch, filled by the analysis, flag it: the flag (a list of
    records per trial) is exported as ragged columns, next to every other result field."""
    from dataclasses import fields

    from app.analysis.results import TrialResult
    truth = write_synthetic_session(tmp_path / "g.h5", metadata=METADATA, gaps=[(7300, 20)])
    cfg = AnalysisConfig(fill_gaps_ms=5.0)
    expected = analyze_recording(load_recording(truth.path), cfg)
    flagged = {t.index: t.flag_codes for t in expected.trials}
    assert "gaps-filled" in flagged[1]              # the premise: the analysis flags it
    export_session(truth.path, tmp_path / "g.nwb", cfg)
    with pynwb.NWBHDF5IO(str(tmp_path / "g.nwb"), "r") as io:
        trials = io.read().trials.to_dataframe()
    assert {i: list(c) for i, c in trials["flags_code"].items()} == flagged
    assert all(len(c) == len(t) for c, t in zip(trials["flags_code"], trials["flags_text"]))
    names = set(trials.columns)
    for f in fields(TrialResult):
        if f.name not in ("index", "markers", "flags", "notes"):
            assert f.name in names or f"analysed_{f.name}" in names, f.name
    for t, (_, row) in zip(expected.trials, trials.iterrows()):
        assert row["peak_force_mN"] == t.peak_force_mN or math.isnan(t.peak_force_mN)
        assert row["markers_peak"] == t.markers["peak"]


def test_a_damaged_block_is_exported_as_invalid_never_as_numbers(tmp_path, capsys):
    """A flipped byte in /force: the block fails its CRC-32 in the session reader, so
    its samples go to NWB as NaN (flags 0, pulses out) inside an invalid-times row."""
    import h5py

    from app.recorder import layout as L
    truth = _session(tmp_path / "d.h5")
    sample = 7050                                   # the second twitch's contraction
    with h5py.File(truth.path, "r") as f:
        ds = f[L.FORCE]
        info = ds.id.get_chunk_info_by_coord((sample // L.FORCE_CHUNK * L.FORCE_CHUNK,))
        offset = info.byte_offset + 4 * (sample % L.FORCE_CHUNK) + 2
    with open(truth.path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 0x10]))
    assert main(["export", str(truth.path), "--nwb", str(tmp_path / "d.nwb")]) == 0
    assert "not verified" in capsys.readouterr().err
    with pynwb.NWBHDF5IO(str(tmp_path / "d.nwb"), "r") as io:
        nwb = io.read()
        inv = nwb.invalid_times.to_dataframe()
        bad = inv[inv["cause"].str.startswith("damaged")]
        assert len(bad) == 1 and "not verified" in nwb.notes
        a, n = int(bad["start_sample"].iloc[0]), int(bad["sample_count"].iloc[0])
        assert a <= sample < a + n
        force = nwb.acquisition["force"].data[:]
        assert np.isnan(force[a:a + n]).all()
        intact = np.ones(force.size, bool)
        intact[a:a + n] = False
        np.testing.assert_array_equal(force[intact], truth.force_mN[intact])
        assert not nwb.acquisition["amplifier_flags"].data[a:a + n].any()
        pulses = nwb.events["stimulus_pulses"]["sample"][:]
        assert not ((pulses >= a) & (pulses < a + n)).any()
        assert set(pulses) == {p for p in truth.pulses if not a <= p < a + n}
    trials = analyze_recording(load_recording(tmp_path / "d.nwb")).trials
    assert trials[1].error and not trials[0].error        # never measured


def test_auxiliary_channels_are_exported_and_read_back(tmp_path):
    from tests.test_recorder_aux import AUX, _block, _record
    _record(tmp_path / "aux.h5", [_block(0, 3000), _block(3000, 2000)])
    export_session(tmp_path / "aux.h5", tmp_path / "aux.nwb")
    src, back = load_recording(tmp_path / "aux.h5"), load_recording(tmp_path / "aux.nwb")
    assert set(back.aux) == {c["name"] for c in AUX} and back.aux_units == src.aux_units
    for name in src.aux:
        np.testing.assert_array_equal(back.aux[name][:], src.aux[name][:])
    with pynwb.NWBHDF5IO(str(tmp_path / "aux.nwb"), "r") as io:
        assert io.read().acquisition["aux_length"].unit == "mm"


def test_a_damaged_aux_block_is_exported_as_nan_in_that_channel_only(tmp_path):
    """Format 1.2: a flipped byte in /aux/emg fails that channel's CRC-32: its block is
    NaN in aux_emg only, with a warning; force, the other channel and invalid_times are
    untouched."""
    import h5py

    from app.recorder import layout as L
    from tests.test_recorder_aux import _block, _record
    path = tmp_path / "aux.h5"
    _record(path, [_block(0, 3000), _block(4000, 2000)])    # two blocks around a gap
    with h5py.File(path, "r") as f:
        offset = f[L.AUX]["emg"].id.get_chunk_info_by_coord((0,)).byte_offset + 4 * 4500 + 2
        starts, counts = f["integrity/start"][:], f["integrity/count"][:]
        length = f[L.AUX]["length"][:]
        force = f[L.FORCE][:]
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 0x10]))
    k = int(np.flatnonzero((starts <= 4500) & (4500 < starts + counts))[0])
    a, b = int(starts[k]), int(starts[k] + counts[k])
    report = export_session(path, tmp_path / "aux.nwb")
    assert any("aux channel 'emg'" in w and "not verified" in w for w in report.warnings)
    with pynwb.NWBHDF5IO(str(tmp_path / "aux.nwb"), "r") as io:
        nwb = io.read()
        emg = nwb.acquisition["aux_emg"].data[:]
        assert np.isnan(emg[a:b]).all() and np.isfinite(emg[:3000]).all()
        np.testing.assert_array_equal(nwb.acquisition["aux_length"].data[:], length)
        np.testing.assert_array_equal(nwb.acquisition["force"].data[:], force)
        inv = nwb.invalid_times.to_dataframe()
        assert not inv["cause"].str.startswith("damaged").any()


def test_a_protocol_run_on_the_simulated_rig_exports_cleanly_and_reads_back(tmp_path):
    """The real path end to end: 'myoforce run' on the simulated rig (real transports,
    real muscle model with its noise and artefacts), then export, nwbinspector, and the
    analysis of the NWB file against that of the session."""
    out = tmp_path / "sim.h5"
    cmd = [sys.executable, "-m", "app.cli.main"]
    run = subprocess.run(
        cmd + ["run", str(REPO / "tests/fixtures/protocol1-short-sim.yaml"), "--sim", "--yes",
               "--out", str(out), "--subject", "rat-02", "--sex", "female", "--age-weeks", "11",
               "--body-mass-g", "280", "--muscle", "EDL", "--side", "right", "--group",
               "vehicle", "--operator", "Curie, Marie", "--seed", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = export_session(out, tmp_path / "sim.nwb")
    assert report.trials == 6 and report.warnings == [] and report.notes == []
    findings = nwbinspector.inspect_nwbfile(nwbfile_path=str(tmp_path / "sim.nwb"))
    serious = [f"{f.check_function_name}: {f.message}" for f in findings if f.importance in (
        nwbinspector.Importance.CRITICAL, nwbinspector.Importance.BEST_PRACTICE_VIOLATION)]
    assert serious == []
    a = analyze_recording(load_recording(tmp_path / "sim.nwb")).to_dict()
    b = analyze_recording(load_recording(out)).to_dict()
    for r in (a, b):
        r.pop("file"), r.pop("format")
    assert a == b and a["summary"]["po_mN"] > 1000
    with pynwb.NWBHDF5IO(str(tmp_path / "sim.nwb"), "r") as io:
        nwb = io.read()
        with open_session(out) as sf:
            assert nwb.protocol == sf.protocol_text
            np.testing.assert_array_equal(nwb.acquisition["force"].data[:], sf.force[:])
            np.testing.assert_array_equal(nwb.events["stimulus_pulses"]["sample"][:],
                                          sf.pulse_samples)
            assert len(nwb.processing["session_record"]["audit_log"]) == len(sf.audit)


def test_samples_without_a_checksum_are_exported_as_invalid(tmp_path):
    """The end of a recording whose last checksums never reached the disk: those samples
    are not verified, so they go to NWB as NaN inside an invalid-times row."""
    import h5py

    from app.recorder import layout as L
    truth = _session(tmp_path / "u.h5")
    with h5py.File(truth.path, "r+") as f:           # drop the last checksum rows
        g = f[L.INTEGRITY]
        keep = g["start"].shape[0] // 2
        first_lost = int(g["start"][keep])
        for col in g.values():
            col.resize((keep,))
    report = export_session(truth.path, tmp_path / "u.nwb")
    assert any("no checksum" in w for w in report.warnings)
    with pynwb.NWBHDF5IO(str(tmp_path / "u.nwb"), "r") as io:
        nwb = io.read()
        inv = nwb.invalid_times.to_dataframe()
        row = inv[inv["cause"].str.startswith("no checksum")]
        assert list(row["start_sample"]) == [first_lost]
        assert int(row["sample_count"].iloc[0]) == truth.force_mN.size - first_lost
        force = nwb.acquisition["force"].data[:]
        assert np.isnan(force[first_lost:]).all()
        np.testing.assert_array_equal(force[:first_lost], truth.force_mN[:first_lost])


def test_dandi_notes_name_the_annotate_command_that_fills_the_field():
    from app.nwb.subject import subject_fields
    _, problems = subject_fields({"subject_id": "unnamed"})
    assert len(problems) == 4                      # species, sex, age, subject_id
    for field in ("species", "sex", "age_weeks", "subject_id"):
        assert any(f"myoforce annotate SESSION.h5 {field}=" in p for p in problems), field
