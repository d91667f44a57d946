"""Specific force picks the fibre-length ratio (Lf/Lo) by species and muscle: a ratio
measured in one species is never applied silently to another, and a session without a
recorded species gets no default (docs/analysis.md §5)."""
import math

import pytest

from app.analysis import AnalysisConfig, analyze_recording
from app.analysis.muscles import (
    FIBRE_LENGTH_RATIOS, canonical_species, fibre_length_ratio, specific_force_n_per_cm2,
)
from tests.synthetic import SessionSpec, session_recording

SPEC = SessionSpec(fs=2_000.0, twitches=1, ff_freqs=(50, 100), noise_sd=0.0)


def _summary(cfg=None, **metadata):
    rec, truth = session_recording(SPEC, muscle_mass_mg=150.0, muscle_length_mm=35.0,
                                   **metadata)
    return analyze_recording(rec, cfg or AnalysisConfig()).summary, truth


@pytest.mark.parametrize("name,canon", [("rat", "rat"), ("Rat", "rat"), (" rats ", "rat"),
                                        ("Rattus norvegicus", "rat"), ("mouse", "mouse"),
                                        ("mice", "mouse"), ("Mus  musculus", "mouse"),
                                        ("rabbit", None), ("", None), (None, None)])
def test_species_names(name, canon):
    assert canonical_species(name) == canon


def test_mouse_table_is_brooks_faulkner_and_burkholder():
    assert fibre_length_ratio("EDL", "mouse").ratio == 0.44
    assert fibre_length_ratio("soleus", "mouse").ratio == 0.71
    assert fibre_length_ratio("TA", "mouse").ratio == 0.60
    for muscle in ("EDL", "soleus"):
        src = fibre_length_ratio(muscle, "mouse").source
        assert src.startswith("Brooks SV, Faulkner JA (1988)") and "J Physiol 404:71-82" in src
        assert "applied to rat" not in src                    # a mouse value, said plainly
    assert fibre_length_ratio("TA", "mouse").source.startswith("Burkholder TJ")


def test_rat_rows_are_the_mouse_values_and_say_so():
    # no rat Lf/Lo could be read from a primary source: the rat rows are the mouse
    # values, and their source names both the paper and that it was measured in mouse
    for muscle in ("edl", "soleus", "tibialis anterior"):
        rat, mouse = FIBRE_LENGTH_RATIOS["rat"][muscle], FIBRE_LENGTH_RATIOS["mouse"][muscle]
        assert rat.ratio == mouse.ratio
        assert rat.source.startswith(mouse.source)
        assert "measured in mouse, applied to rat" in rat.source
    assert set(FIBRE_LENGTH_RATIOS) == {"rat", "mouse"}


@pytest.mark.parametrize("species", [None, "", "rabbit", "human"])
def test_no_default_ratio_for_unknown_species(species):
    assert fibre_length_ratio("EDL", species) is None
    assert fibre_length_ratio("soleus", species) is None


def test_rat_and_mouse_sessions_name_their_source():
    rat, truth = _summary(muscle="EDL", species="Rattus norvegicus")
    mouse, _ = _summary(muscle="EDL", species="mouse")
    sf, _ = specific_force_n_per_cm2(truth["po"], 150.0, 35.0, 0.44)
    for s in (rat, mouse):
        assert s["fibre_length_ratio"] == 0.44
        assert s["specific_force_N_per_cm2"] == pytest.approx(sf, rel=0.01)
        assert "Brooks SV, Faulkner JA (1988)" in s["fibre_length_ratio_source"]
    assert "applied to rat" in rat["fibre_length_ratio_source"]
    assert "applied to rat" not in mouse["fibre_length_ratio_source"]


def test_session_without_species_gets_no_specific_force_and_says_why():
    s, _ = _summary(muscle="soleus")                      # e.g. a DDF/CSV import
    assert math.isnan(s["specific_force_N_per_cm2"]) and math.isnan(s["fibre_length_ratio"])
    note = next(n for n in s["notes"] if n.startswith("specific force not computed"))
    assert "missing species" in note and "tabulated per species: mouse, rat" in note
    assert note.endswith("add it with 'myoforce annotate FILE species=...'")


def test_session_of_an_untabulated_species_says_so():
    s, _ = _summary(muscle="EDL", species="rabbit")
    assert math.isnan(s["specific_force_N_per_cm2"])
    note = next(n for n in s["notes"] if n.startswith("specific force not computed"))
    assert "species 'rabbit'" in note and "pass fibre_length_ratio" in note
    assert "annotate" not in note                         # recording it would not help


def test_a_given_ratio_needs_no_species():
    s, truth = _summary(AnalysisConfig(fibre_length_ratio=0.5), muscle="EDL")
    sf, _ = specific_force_n_per_cm2(truth["po"], 150.0, 35.0, 0.5)
    assert s["specific_force_N_per_cm2"] == pytest.approx(sf, rel=0.01)
    assert s["fibre_length_ratio_source"] == "given by the user"
    s, _ = _summary(AnalysisConfig(fibre_length_ratios="soleus=0.68"), muscle="soleus")
    assert s["fibre_length_ratio"] == 0.68
    assert s["fibre_length_ratio_source"] == "given by the user for this muscle"
