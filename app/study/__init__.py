"""Study management: the study folder (design, animals, allocation, blinding, log,
sessions), dose arithmetic, the run hook and the report. Qt-free; the CLI
(``myoforce study``) and the GUI call these functions. Read a study folder with
:func:`load_study`. Documentation: docs/study.md."""
from app.study.folder import Study, SessionRef, load_study

__all__ = ["Study", "SessionRef", "load_study"]
