"""The ``myoforce`` command line: a thin shell over the Qt-free core."""
