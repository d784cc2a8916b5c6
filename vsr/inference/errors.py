"""User-facing inference errors: printed as one line by the command-line tool."""

from __future__ import annotations

from vsr.errors import CheckpointError, UserError

__all__ = ["CheckpointError", "InferenceError"]


class InferenceError(UserError):
    """A bad upscaling option; the message names the value at fault and the fix."""
