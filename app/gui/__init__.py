"""The Qt desktop application (the only package that imports Qt).

Acquire mode runs protocols on a rig with the force trace live; replay mode opens
recorded sessions to look at them again, re-analyse and export. The Qt-free parts it
drives (ring buffer, playback, decimation, experiment control) live in ``app.live``.
"""

from app.gui import qt_compat as _qt_compat

_qt_compat.apply()
