"""The one exception type the video layer raises for problems a user can fix."""

from __future__ import annotations


class VideoError(Exception):
    """A user-facing problem with an input or output (missing file, bad codec, ...).

    The message is one line that names the file or value at fault and what would fix it; the
    command-line tools print it as is, without a traceback.
    """
