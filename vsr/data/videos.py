"""Video files as clips: windows decoded straight from the files.

Each file is indexed once by :mod:`vsr.video.index` (one linear decode, so frame ``i`` is
the ``i``-th frame the decoder returns: B-frames in AVI, open GOPs, variable frame rates and
broken timestamps included) and read through :class:`vsr.video.clips.VideoClip` (seek to the
keyframe before a window, decode forward, convert with the video's own colour matrix: the
same frames and colours ``vsr-upscale`` reads).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vsr.data.clips import ClipSource, split_clips
from vsr.video.clips import Clip, VideoClip
from vsr.video.errors import ClipNotFoundError
from vsr.video.files import VIDEO_SUFFIXES, list_videos, require_dir


class VideoSource(ClipSource):
    """Video files as clips: a folder of videos, a single file, or a list of files.

    Args:
        root: a video file or a folder of video files.
        files: explicit files (relative to ``root`` when not absolute) instead of scanning.
        split: ``"train"``, ``"val"`` or ``"all"``.
        val_clips: file stems held out for validation, or how many of the last files to hold
            out. With a single file, ``"train"`` and ``"val"`` both use it.
        cache_frames: decoded frames cached per file.
    """

    def __init__(
        self,
        root: str | Path,
        files: Sequence[str | Path] | None = None,
        split: str = "all",
        val_clips: Sequence[str] | int = 1,
        cache_frames: int = 16,
    ) -> None:
        self.root = Path(root)
        self.files = [Path(f) for f in files] if files is not None else None
        self.split = split
        self.val_clips = val_clips if isinstance(val_clips, int) else list(val_clips)
        self.cache_frames = cache_frames

    def _paths(self) -> list[Path]:
        if self.files is not None:
            return [f if f.is_absolute() else self.root / f for f in self.files]
        if self.root.is_file():
            return [self.root]
        root = require_dir(self.root, "video folder", "Expected a video file or a folder of them.")
        paths = list_videos(root)
        if not paths:
            raise ClipNotFoundError(
                f"no video files under {root} (extensions: {', '.join(VIDEO_SUFFIXES)})"
            )
        return paths

    def clips(self) -> list[Clip]:
        paths = self._paths()
        by_name = {p.stem: p for p in paths}
        names = list(by_name)
        if len(names) > 1 or self.split == "all":
            names = split_clips(names, self.split, self.val_clips)
        return [VideoClip(by_name[n], cache_frames=self.cache_frames) for n in names]

    def __repr__(self) -> str:
        return f"VideoSource(root={str(self.root)!r}, split={self.split!r})"
