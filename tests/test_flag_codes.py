"""A trial's quality-flag codes, one rule (app.analysis.results.flag_codes) for the result
object and its to_dict() row: the row is what the GUI's overlay and results table hold,
and what a JSON file written by ``analyze --json`` reads back as."""
import json

from app.analysis.flags import Flag
from app.analysis.results import TrialResult, flag_codes


def _flagged() -> TrialResult:
    return TrialResult(index=3, kind="tetanus", flags=[
        Flag("baseline-drift", "the trend moves the peak by 4 % of Po"),
        Flag("tpt-ambiguous", "the plateau is flat within 0.3 mN over 40 ms")])


def test_object_and_row_give_the_same_codes_in_order():
    t = _flagged()
    row = json.loads(json.dumps(t.to_dict(), allow_nan=False))   # as read back from a file
    assert flag_codes(t) == ["baseline-drift", "tpt-ambiguous"]
    assert t.flag_codes == flag_codes(t)
    assert flag_codes(row) == flag_codes(t)


def test_a_trial_without_flags_has_no_codes_in_either_form():
    t = TrialResult(index=0, kind="twitch")
    assert flag_codes(t) == [] and flag_codes(t.to_dict()) == []
    assert flag_codes({}) == [] and flag_codes({"flags": None}) == []


def test_a_row_s_entries_that_are_not_flags_are_skipped():
    row = {"flags": [{"code": "clipped", "text": "at full scale"}, "clipped", None,
                     {"text": "no code"}]}
    assert flag_codes(row) == ["clipped", ""]
