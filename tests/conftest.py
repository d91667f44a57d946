"""Shared test setup. Qt tests run offscreen; nothing here touches devices."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _analysis_cache_in_tmp(tmp_path_factory, monkeypatch):
    """The analysis result cache (app.result_cache) of every test, and of the commands
    it starts, lives in a temporary folder: never in the user's ~/.cache."""
    monkeypatch.setenv("MYOFORCE_CACHE_DIR", str(tmp_path_factory.mktemp("myoforce-cache")))


@pytest.fixture(autouse=True, scope="session")
def _run_log_in_tmp(tmp_path_factory):
    """``myoforce run``'s log file (app.run_log) lives in a temporary folder during the
    tests, for the commands they start too: never in the user's ~/.local/state."""
    os.environ.setdefault("MYOFORCE_LOG", str(tmp_path_factory.mktemp("myoforce-log") / "myoforce.log"))


@pytest.fixture(autouse=True)
def _delete_closed_widgets(request):
    """After a Qt test, delete the widgets pytest-qt closed (it calls ``deleteLater``, but
    ``processEvents`` never delivers deferred deletes): otherwise every closed window of
    the session stays alive, hidden, with its timers running, until the end of the run."""
    yield
    if "qtbot" not in request.fixturenames:
        return
    from PySide6.QtCore import QCoreApplication, QEvent
    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
