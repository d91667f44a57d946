"""What people read a field as (app.labels): the peak's name is one rule for the
terminal, the GUI and the figures."""
from __future__ import annotations

from app.labels import peak_name


def test_a_twitch_peak_is_pt_and_a_tetanus_peak_is_po():
    assert peak_name("twitch") == "Pt"
    assert peak_name("tetanus") == "Po"
    # a kind the row does not give is not called a twitch peak
    assert peak_name(None) == "Po"
