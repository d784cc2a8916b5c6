"""Video files as clips: windows decoded straight from the file with PyAV.

Each file is indexed once (its packets' presentation timestamps, read without decoding), so
frame ``i`` is the ``i``-th timestamp in presentation order, also for variable frame rates
and B-frames. A window is read by seeking to the keyframe before its first frame and decoding
forward; decoded frames stay in a small LRU cache because neighbouring windows overlap.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from vsr.data.clips import Clip, ClipSource, natural_key, require_dir
from vsr.data.frames import _split_clips

#: File extensions picked up when a folder of videos is given.
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg")


def index_video(path: Path) -> list[int]:
    """Presentation timestamps of the first video stream's frames, in presentation order.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file has no video stream or no frames.
    """
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot open {path} as a video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
        if not pts:
            # Some raw streams carry no packet timestamps: decode once to number the frames.
            container.seek(0)
            pts = [
                f.pts if f.pts is not None else i for i, f in enumerate(container.decode(stream))
            ]
    if not pts:
        raise ValueError(f"{path} contains no video frames")
    return sorted(pts)


class VideoClip(Clip):
    """Frames of one video file, read by index.

    Args:
        path: the video file.
        cache_frames: decoded frames kept (LRU); at least a window's worth is always kept.
    """

    def __init__(self, path: str | Path, cache_frames: int = 16) -> None:
        self.path = Path(path)
        self.name = self.path.stem
        self._pts = index_video(self.path)
        self._index_of = {p: i for i, p in enumerate(self._pts)}
        self.num_frames = len(self._pts)
        self.cache_frames = cache_frames
        self._container: Any = None
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers each open their own decoder: containers cannot be pickled.
        state = self.__dict__.copy()
        state["_container"] = None
        state["_cache"] = OrderedDict()
        return state

    def _open(self) -> Any:
        if self._container is None:
            self._container = av.open(str(self.path))
            self._container.streams.video[0].thread_type = "AUTO"
        return self._container

    def close(self) -> None:
        """Close the decoder (it reopens on the next read)."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def _decode_range(self, first: int, last: int) -> None:
        container = self._open()
        stream = container.streams.video[0]
        container.seek(self._pts[first], stream=stream, backward=True, any_frame=False)
        wanted = set(range(first, last + 1))
        for frame in container.decode(stream):
            index = self._index_of.get(frame.pts)
            if index is None:
                continue
            if index in wanted:
                self._cache[index] = frame.to_ndarray(format="rgb24")
                self._cache.move_to_end(index)
                wanted.discard(index)
            if not wanted or index > last:
                break
        if wanted:
            raise RuntimeError(
                f"could not decode frame {min(wanted)} of {self.path} "
                f"({self.num_frames} frames indexed): the file may be truncated"
            )

    def read(self, indices: Sequence[int]) -> np.ndarray:
        for i in indices:
            if not 0 <= i < self.num_frames:
                raise IndexError(f"frame {i} out of range for {self.path} ({self.num_frames})")
        missing = [i for i in indices if i not in self._cache]
        if missing:
            self._decode_range(min(missing), max(missing))
        out = []
        for i in indices:
            self._cache.move_to_end(i)
            out.append(self._cache[i])
        frames = np.stack(out)
        while len(self._cache) > max(self.cache_frames, len(set(indices))):
            self._cache.popitem(last=False)
        return frames

    def __repr__(self) -> str:
        return f"VideoClip({str(self.path)!r}, {self.num_frames} frames)"


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
        paths = [p for p in root.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS]
        if not paths:
            raise FileNotFoundError(
                f"no video files under {root} (extensions: {', '.join(VIDEO_EXTENSIONS)})"
            )
        return sorted(paths, key=lambda p: natural_key(p.name))

    def clips(self) -> list[Clip]:
        paths = self._paths()
        by_name = {p.stem: p for p in paths}
        names = list(by_name)
        if len(names) > 1 or self.split == "all":
            names = _split_clips(names, self.split, self.val_clips)
        return [VideoClip(by_name[n], cache_frames=self.cache_frames) for n in names]

    def __repr__(self) -> str:
        return f"VideoSource(root={str(self.root)!r}, split={self.split!r})"
