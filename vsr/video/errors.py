"""The one exception family the video layer raises for problems a user can fix.

Every clip reader (image files, frame folders, video files, dataset layouts) raises these,
so the training, evaluation and upscaling commands catch one type and print one line.
The subclasses also derive from the built-in error they refine (``FileNotFoundError``,
``ValueError``), so code written against those keeps working.
"""

from __future__ import annotations

from vsr.errors import UserError


class VideoError(UserError):
    """A user-facing problem with an input or output (missing file, bad codec, ...).

    The message is one line that names the file or value at fault and what would fix it; the
    command-line tools print it as is, without a traceback.
    """


class ClipNotFoundError(VideoError, FileNotFoundError):
    """A clip, frame, list file or dataset folder that is not where it was expected."""


class UnreadableClipError(VideoError, ValueError):
    """A file that exists but cannot be decoded: not an image/video, damaged, truncated."""
