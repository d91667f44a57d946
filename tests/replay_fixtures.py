"""The replay tests' shared fixture (no test here): import ``view_fixture`` into a test module to get the ``view`` fixture."""
from __future__ import annotations

import pytest

from app.gui.app import ensure_app
from app.gui.replay_view import ReplayView


@pytest.fixture(name="view")
def view_fixture(qtbot):
    """A shown ReplayView at the window size the replay is laid out for; its file is
    released after the test (a later test may write to the same path)."""
    ensure_app()
    v = ReplayView()
    qtbot.addWidget(v)
    v.resize(1400, 900)
    v.show()
    yield v
    v.close_view()
