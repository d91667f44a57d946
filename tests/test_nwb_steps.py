"""Protocol steps in the NWB export: an EventsTable /events/protocol_steps with one row per
step at its 'step-started' sample, read back with pynwb as the session recorded them,
accepted by nwbinspector, listed by 'info' and replay of the .nwb as for the source
session; a session without step-started entries exports without the table."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from app.cli.main import main  # noqa: E402
from app.live.sources import load_for_replay  # noqa: E402
from app.nwb import STEPS  # noqa: E402
from app.nwb.export import export_session  # noqa: E402
from app.nwb.steps import step_durations  # noqa: E402
from app.recorder.reader import open_session, session_info  # noqa: E402
from tests.helpers_recording import write_synthetic_session  # noqa: E402

STEPS_YAML = """\
    - {kind: note, text: hello}
    - {kind: twitch, count: 2, interval_s: 0.05, current_mA: 3}
    - {kind: rest, duration_s: 0.2}
    - {kind: twitch, name: again, count: 1, interval_s: 0.05, current_mA: 3}
    """


def _table(path):
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        events = io.read().events
        if not events or STEPS not in events:
            return None
        return events[STEPS].to_dataframe()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A session the protocol runner recorded (simulated rig), and its export."""
    from app.metadata import SessionMetadata
    from app.session import ExperimentSession
    from drivers.limits import StimulusLimits
    from tests.test_protocol_runner import FAST, fake_rig, protocol

    d = tmp_path_factory.mktemp("nwbsteps")
    src = d / "run.h5"
    session = ExperimentSession(protocol(STEPS_YAML, FAST),
                                fake_rig(limits=StimulusLimits(min_pulse_interval_s=0.01)),
                                src, SessionMetadata(subject_id="t"), tare_samples=10,
                                auto_continue=True)
    session.start()
    finished = session.wait(30)
    session.close()
    assert finished is not None and finished.status == "completed"
    out = d / "run.nwb"
    export_session(src, out)
    return src, out


def test_the_steps_read_back_as_the_session_recorded_them(recorded):
    src, out = recorded
    with open_session(src) as sf:
        starts, rate, n = sf.step_starts, sf.sample_rate_hz, sf.samples
    assert [s.name for s in starts] == ["note-1", "twitch-2", "rest-3", "again"]
    t = _table(out)
    assert list(t["step"]) == [s.name for s in starts]
    assert list(t["kind"]) == ["note", "twitch", "rest", "twitch"]
    assert list(t["index_in_protocol"]) == [0, 1, 2, 3]
    assert list(t["sample"]) == [s.sample for s in starts]
    assert list(t["timestamp"]) == [s.sample / rate for s in starts]       # the force's clock
    ends = [s.sample for s in starts[1:]] + [n]
    assert np.allclose(t["duration"], [(e - s.sample) / rate for s, e in zip(starts, ends)])
    assert t["duration"].iloc[2] > 0.2 - 1e-9             # the rest step lasted its 0.2 s


def test_nwbinspector_reports_nothing_on_the_steps_table(recorded):
    _, out = recorded
    findings = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(out)))
    assert findings                           # the inspector ran (the file has other notes)
    assert not [f for f in findings if f.object_name == STEPS
                or STEPS in str(f.location or "")]


def test_info_and_replay_of_the_nwb_list_the_same_step_starts(recorded, capsys):
    src, out = recorded
    want = session_info(src)["step_starts"]
    assert [s["step"] for s in want] == ["note-1", "twitch-2", "rest-3", "again"]
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["step_starts"] == want
    _, info = load_for_replay(out)
    assert info["step_starts"] == want


def test_a_folder_export_carries_the_steps_too(recorded, tmp_path, capsys):
    """The batch path (a folder, as for a study) exports each session the same way."""
    src, _ = recorded
    (tmp_path / "in").mkdir()
    shutil.copy(src, tmp_path / "in" / "run.h5")
    assert main(["export", str(tmp_path / "in"), "--nwb", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    t = _table(tmp_path / "out" / "run.nwb")
    assert t is not None and list(t["step"]) == ["note-1", "twitch-2", "rest-3", "again"]


def test_a_session_without_step_started_entries_has_no_steps_table(tmp_path):
    src = write_synthetic_session(tmp_path / "plain.h5", rate_hz=1000.0).path
    export_session(src, tmp_path / "plain.nwb")
    assert _table(tmp_path / "plain.nwb") is None
    _, info = load_for_replay(tmp_path / "plain.nwb")
    assert info["step_starts"] == []


def test_entries_of_older_files_named_only_in_their_message_are_exported(tmp_path):
    from app.recorder.revisions import append_audit_row
    src = write_synthetic_session(tmp_path / "old.h5", rate_hz=1000.0).path
    for sample, message, fields in [
            (150, "step [1/2] twitches (twitch)", {"step_kind": "twitch"}),
            (1100, "step [2/2] tet", {"step_kind": "tetanus", "step": "tet", "step_index": 1})]:
        append_audit_row(src, {"time_utc": "2026-01-01T00:00:00Z", "sample": sample,
                               "kind": "step-started", "message": message,
                               "fields": json.dumps(fields)})
    export_session(src, tmp_path / "old.nwb")
    t = _table(tmp_path / "old.nwb")
    n = session_info(src)["samples"]
    assert list(t["step"]) == ["twitches", "tet"] and list(t["kind"]) == ["twitch", "tetanus"]
    assert list(t["index_in_protocol"]) == [0, 1]
    assert list(t["timestamp"]) == [0.15, 1.1]
    assert np.allclose(t["duration"], [0.95, (n - 1100) / 1000.0])


def test_a_step_logged_after_the_last_sample_has_no_known_duration():
    """(A crash can lose the stream's end but keep the audit entry.) Each step runs to the
    next one's start; the last to the end of the recording, unknown if it began after it."""
    got = step_durations(np.array([10, 10, 40, 120]), 100)
    assert list(got) == [0, 30, 80, -1]
