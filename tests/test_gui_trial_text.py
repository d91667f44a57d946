"""How replay names a trial (app.gui.trial_text): the trial list's line and the details
under the trial's plot, from the recording's trial and its analysed row."""
from __future__ import annotations

import numpy as np
import pytest

from app.gui.trial_text import trial_details, trial_list_label
from app.recording import Trial

pytestmark = pytest.mark.gui


def _trial(kind="tetanus", **kw) -> Trial:
    return Trial(index=kw.pop("index", 7), kind=kind, start_sample=100, stop_sample=900,
                 stim_samples=np.array([200, 220], dtype=np.int64), **kw)


def test_list_label_names_the_trial_its_step_and_peak_once_analysed():
    t = _trial(frequency_hz=50.0, step="force-frequency")
    assert trial_list_label(t, None) == "  7  tetanus 50 Hz  [force-frequency]"
    assert trial_list_label(t, {"peak_force_mN": 412.4}).endswith("  412 mN")


def test_list_label_says_when_the_analysis_failed_or_the_trial_was_cut_short():
    t = _trial(kind="twitch", status="aborted")
    assert trial_list_label(t, {"error": "no peak"}) == "  7  twitch  (failed)  (aborted)"
    # a peak is shown rather than an error note when both are there
    assert "(failed)" not in trial_list_label(t, {"peak_force_mN": 80.0, "error": "x"})


def test_details_name_the_peak_po_for_a_tetanus_and_pt_for_a_twitch():
    tet = trial_details(_trial(), {"kind": "tetanus", "peak_force_mN": 412.4})
    tw = trial_details(_trial(kind="twitch"), {"kind": "twitch", "peak_force_mN": 80.0})
    assert tet.startswith("<b>trial 7</b>") and "Po <b>412.4 mN</b>" in tet
    assert "Pt <b>80.0 mN</b>" in tw and "Po " not in tw
    # a row without its kind: the trial's own kind names the peak, as the line shows it
    assert "Po <b>412.4 mN</b>" in trial_details(_trial(), {"peak_force_mN": 412.4})
    assert "Pt <b>80.0 mN</b>" in trial_details(_trial(kind="twitch"), {"peak_force_mN": 80.0})


def test_details_take_the_result_before_the_trials_own_value_and_leave_empties_out():
    t = _trial(kind="twitch", current_mA=2.0)
    assert trial_details(t, {"kind": "twitch"}) == \
        "<b>trial 7</b>  ·  twitch  ·  pulses <b>2</b>  ·  current <b>2.00 mA</b>"
    text = trial_details(t, {"kind": "twitch", "current_mA": 3.0, "error": None})
    assert "current <b>3.00 mA</b>" in text and "2.00 mA" not in text
    assert "error" not in text and "length" not in text


def test_an_excluded_trial_says_so_with_its_reason_in_the_line_and_the_details():
    t = _trial(kind="twitch")
    assert trial_list_label(t, {"peak_force_mN": 80.0}, "animal moved") == \
        "  7  twitch  80 mN  (excluded: animal moved)"
    assert "excluded" not in trial_list_label(t, {"peak_force_mN": 80.0})
    text = trial_details(t, {"kind": "twitch", "peak_force_mN": 80.0}, "moved <a lot> & slipped")
    assert text.endswith("excluded from the session's numbers: moved &lt;a lot&gt; &amp; "
                         "slipped</span>")
    assert "excluded" not in trial_details(t, {"kind": "twitch"})
