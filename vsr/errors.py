"""The one base of every error a user can fix, and the errors shared by several packages.

Each package refines :class:`UserError` for its own inputs (:class:`vsr.video.VideoError`,
:class:`vsr.inference.InferenceError`, :class:`vsr.evaluation.EvaluationError`,
:class:`vsr.training.TrainingError`). The commands print any of them as one line and exit
with status 1 (:func:`vsr.command.run_command`); every other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave (a file, an option, a checkpoint) that they can fix.

    The message is one line that names the value at fault and what would fix it. It names
    options by their command-line spelling (``--max-memory``), which is also the Python
    keyword with dashes for underscores (``max_memory``).
    """


class CheckpointError(UserError):
    """A weights file that is missing, not ours, of an unknown version, damaged, or that does
    not fit the model it is loaded into (upscaling, evaluation, fine-tuning, export)."""
