"""'myoforce annotate': metadata known after the run (muscle mass) as an appended
revision with an audit entry; refusals write nothing; analyze then reports specific
force; 'analyze --meta' does the same for DDF/CSV inputs."""
import hashlib
import json

import h5py
import numpy as np
import pytest

from tests.synthetic import SessionSpec, session_recording, write_csv, write_h5
from tests.helpers_cli import run_cli as run


@pytest.fixture
def session(tmp_path):
    rec, truth = session_recording(SessionSpec(fs=2_000.0, twitches=2,
                                               ff_freqs=(10, 30, 50, 100, 150),
                                               noise_sd=0.05, with_trials=True))
    path = tmp_path / "s.h5"
    write_h5(rec, path, subject_id="R1", species="rat", muscle="EDL", muscle_length_mm=35.0)
    return path, truth


def raw_digest(path):
    with h5py.File(path, "r") as f:
        h = hashlib.sha256()
        h.update(np.asarray(f["force"][:]).tobytes())
        h.update(json.dumps({k: str(v) for k, v in f["session"].attrs.items()},
                            sort_keys=True).encode())
        return h.hexdigest()


def test_annotate_then_analyze_reports_specific_force(capsys, session):
    path, truth = session
    code, out, _ = run(capsys, "analyze", path, "--json", "--no-cache")
    s = json.loads(out)["summary"]
    assert s["specific_force_N_per_cm2"] is None
    assert any("annotate" in n for n in s["notes"])
    before = raw_digest(path)
    code, out, err = run(capsys, "annotate", path, "muscle_mass_mg=160", "notes=left EDL, intact")
    assert code == 0, err
    assert raw_digest(path) == before                     # raw data and recorded values kept
    code, out, _ = run(capsys, "analyze", path, "--json", "--no-cache")
    s = json.loads(out)["summary"]
    csa_cm2 = 0.160 / (3.5 * 0.44 * 1.06)
    assert s["specific_force_N_per_cm2"] == pytest.approx(truth["po"] / 1000 / csa_cm2, rel=0.01)
    # a second revision: info shows both, with the earlier value
    assert run(capsys, "annotate", path, "muscle_mass_mg=158")[0] == 0
    code, out, _ = run(capsys, "info", path, "--json")
    info = json.loads(out)
    assert info["metadata"]["muscle_mass_mg"] == 158.0
    revs = info["metadata_revisions"]
    assert [r["changes"] for r in revs] == [{"muscle_mass_mg": 160.0, "notes": "left EDL, intact"},
                                            {"muscle_mass_mg": 158.0}]
    assert revs[1]["previous"] == {"muscle_mass_mg": 160.0}
    code, out, _ = run(capsys, "info", path)
    assert "metadata revision" in out and "160.0 -> 158.0" in out


@pytest.mark.parametrize("pair, words", [
    ("muscle_weight=160", "unknown metadata field 'muscle_weight'"),
    ("muscle_mass_mg=-5", "muscle_mass_mg"),
    ("muscle_mass_mg=abc", "muscle_mass_mg"),
    ("side=middle", "side"),
    ("muscle_mass_mg", "key=value"),
    ("body_mass_g=360", "body_mass_g given twice ('350' and '360')"),
])
def test_bad_pairs_are_refused_and_nothing_is_written(capsys, session, pair, words):
    path, _ = session
    with open(path, "rb") as fh:
        before = hashlib.sha256(fh.read()).hexdigest()
    code, out, err = run(capsys, "annotate", path, "body_mass_g=350", pair)
    assert code != 0 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    with open(path, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == before


def test_a_file_still_being_recorded_is_refused(capsys, session):
    path, _ = session
    with h5py.File(path, "r+") as f:
        f.attrs["status"] = np.bytes_(b"recording")
    code, _, err = run(capsys, "annotate", path, "muscle_mass_mg=160")
    assert code != 0 and "still being recorded" in err


def test_csv_is_not_annotated_but_analyze_meta_works(capsys, tmp_path):
    rec, truth = session_recording(SessionSpec(fs=2_000.0, twitches=1,
                                               ff_freqs=(10, 30, 50, 100, 150), noise_sd=0.05))
    path = tmp_path / "x.csv"
    write_csv(rec, path, muscle="EDL", species="rat")
    code, _, err = run(capsys, "annotate", path, "muscle_mass_mg=160")
    assert code != 0 and "--meta" in err
    code, out, err = run(capsys, "analyze", path, "--json", "--no-cache", "--meta",
                         "muscle_mass_mg=160", "--meta", "muscle_length_mm=35")
    assert code == 0, err
    s = json.loads(out)["summary"]
    csa_cm2 = 0.160 / (3.5 * 0.44 * 1.06)
    assert s["specific_force_N_per_cm2"] == pytest.approx(truth["po"] / 1000 / csa_cm2, rel=0.01)
    code, _, err = run(capsys, "analyze", path, "--meta", "mass=1")
    assert code != 0 and "unknown metadata field 'mass'" in err
