"""Errors that mean "the user gave us something wrong"; the CLI prints them as one line."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in input the user controls: a file, an argument, a protocol, a rig file."""


class FileFormatError(UserError):
    """A file is not of the expected format, or is damaged. The message names the file."""
