"""Comments in the NWB export: an EventsTable with the text in the core 'annotation'
column, accepted by nwbinspector, read back with pynwb, and listed by 'info' and replay
of the .nwb exactly as for the source session."""
from __future__ import annotations

import json

import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

from app.cli.main import main  # noqa: E402
from app.live.sources import load_for_replay  # noqa: E402
from app.nwb import COMMENTS  # noqa: E402
from app.nwb.export import export_session  # noqa: E402
from app.recorder.comments import add_comment_afterwards, record_comment  # noqa: E402
from app.recorder.reader import session_info  # noqa: E402
from tests.helpers_recording import open_recorder, ramp_blocks  # noqa: E402

RATE = 1_000.0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("nwbc")
    src = d / "s.h5"
    rec = open_recorder(src, RATE)
    for b in ramp_blocks(5000, 100, RATE):
        rec.put_block(b)
        if b.first_sample == 1400:
            record_comment(rec, "re-tied tendon")
    rec.close()
    add_comment_afterwards(src, "length adjusted to 32 mm", 4.25)
    add_comment_afterwards(src, "extra anaesthetic 0.05 ml", 0.5)
    out = d / "s.nwb"
    export_session(src, out)
    return src, out


def test_comments_are_an_events_table_nwbinspector_accepts(exported):
    _, out = exported
    findings = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(out)))
    assert findings                            # the inspector ran (the ramp has gaps in it)
    assert not [f for f in findings if f.object_name == COMMENTS]   # not even a suggestion
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        t = io.read().events[COMMENTS]
        assert list(t["annotation"][:]) == ["extra anaesthetic 0.05 ml", "re-tied tendon",
                                            "length adjusted to 32 mm"]
        assert list(t["timestamp"][:]) == [0.5, 1.5, 4.25]
        assert list(t["added_afterwards"][:]) == [True, False, True]


def test_info_and_replay_of_the_nwb_list_the_same_comments(exported, capsys):
    src, out = exported
    want = session_info(src)["comments"]
    assert [c["text"] for c in want] == ["extra anaesthetic 0.05 ml", "re-tied tendon",
                                         "length adjusted to 32 mm"]
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["comments"] == want
    _, info = load_for_replay(out)
    assert info["comments"] == want


def test_a_session_without_comments_has_no_comment_table(tmp_path):
    src = tmp_path / "plain.h5"
    rec = open_recorder(src, RATE)
    for b in ramp_blocks(2000, 100, RATE):
        rec.put_block(b)
    rec.close()
    export_session(src, tmp_path / "plain.nwb")
    with pynwb.NWBHDF5IO(str(tmp_path / "plain.nwb"), "r") as io:
        events = io.read().events
        assert not events or COMMENTS not in events
