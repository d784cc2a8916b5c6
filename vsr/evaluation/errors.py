"""User-facing evaluation errors: a dataset, option or method that cannot be scored."""

from __future__ import annotations

from vsr.errors import UserError


class EvaluationError(UserError):
    """A dataset layout, option or checkpoint that cannot be evaluated as asked; the message
    names it and the fix."""
