"""User-facing training errors: a config that cannot run, a checkpoint that cannot be used."""

from __future__ import annotations

from vsr.errors import UserError


class TrainingError(UserError):
    """A training or export setting that cannot work; the message names the override or file
    at fault and the fix."""
