"""myoforce application layer: session recorder, contraction analysis, importers, CLI and GUI.

Data flow: amplifier -> SampleBlocks -> recorder (HDF5 writer thread) and live display
(ring buffer); protocol runner -> stimulator; runner events -> subscribers (CLI, GUI).
Only ``app.gui`` imports Qt.
"""

__version__ = "0.1.0"
