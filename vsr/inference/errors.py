"""User-facing inference errors: printed as one line by the command-line tool."""

from __future__ import annotations


class InferenceError(Exception):
    """A bad option or checkpoint; the message names the value at fault and the fix."""


class CheckpointError(InferenceError):
    """A checkpoint that is missing, not ours, of an unknown version, or damaged."""
