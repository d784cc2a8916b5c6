"""Clips: an ordered run of frames with a name, readable by index, from any storage.

A :class:`Clip` reads any subset of its frames as a ``(T, H, W, 3)`` uint8 RGB array. Two
kinds exist, and every consumer (training layouts, evaluation sets, benchmarks) uses them:

- :class:`FrameFolderClip`: one image file per frame (REDS, Vimeo-90K, Vid4, your own
  folders), optionally with precomputed low-resolution frames in parallel folders;
- :class:`VideoClip`: the frames of a video file, numbered and decoded exactly as
  ``vsr-upscale`` decodes them (:class:`vsr.video.access.VideoFile`), with the video's own
  colour matrix and range.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vsr.video.access import VideoFile
from vsr.video.errors import UnreadableClipError
from vsr.video.files import read_image

#: Name of the file written next to precomputed LR frames describing how they were made.
LR_META_FILE = "degradation.json"


def read_lr_meta(folder: Path) -> dict[str, Any] | None:
    """The ``degradation.json`` next to precomputed LR frames, or None when absent."""
    meta = folder / LR_META_FILE
    if not meta.is_file():
        return None
    return json.loads(meta.read_text())


class Clip(ABC):
    """An ordered run of frames.

    Attributes:
        name: identifier used in batch keys (``"<name>/<frame index>"``) and reports.
        num_frames: number of frames.
    """

    name: str
    num_frames: int

    @abstractmethod
    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` as ``(T, H, W, 3)`` uint8 RGB."""

    def read_all(self) -> np.ndarray:
        """Every frame, ``(num_frames, H, W, 3)`` uint8 RGB."""
        return self.read(range(self.num_frames))

    def read_lr(self, indices: Sequence[int], scale: int, kind: str) -> np.ndarray | None:
        """Precomputed LR frames for ``(scale, kind)``, or None when there are none."""
        return None

    def has_lr(self, scale: int, kind: str) -> bool:
        """Whether :meth:`read_lr` returns frames for ``(scale, kind)``."""
        return False

    def lr_meta(self, scale: int, kind: str) -> dict[str, Any] | None:
        """How the precomputed LR for ``(scale, kind)`` was made (its degradation.json)."""
        return None

    def frame_key(self, index: int) -> str:
        """Key of one frame, e.g. ``"000/00000042"``."""
        return f"{self.name}/{index:08d}"


class FrameFolderClip(Clip):
    """A clip stored as one image file per frame, optionally with precomputed LR folders.

    Args:
        name: clip name.
        paths: frame files in order.
        lr_dirs: ``{(scale, kind): folder}`` holding LR frames with the same file names.
        keys: optional per-frame keys (Vimeo uses ``"00001/0001/im4"``-style names).

    Raises:
        UnreadableClipError: ``paths`` is empty; on read, frames of different sizes.
        ClipNotFoundError: on read, a missing frame file.
    """

    def __init__(
        self,
        name: str,
        paths: Sequence[Path],
        lr_dirs: dict[tuple[int, str], Path] | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        if not paths:
            raise UnreadableClipError(f"clip {name!r} has no frames")
        self.name = name
        self.paths = [Path(p) for p in paths]
        self.num_frames = len(self.paths)
        self.lr_dirs = dict(lr_dirs or {})
        self._keys = list(keys) if keys is not None else None

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return _stack([read_image(self.paths[i]) for i in indices], self.paths, indices)

    def has_lr(self, scale: int, kind: str) -> bool:
        return (scale, kind) in self.lr_dirs

    def lr_meta(self, scale: int, kind: str) -> dict[str, Any] | None:
        folder = self.lr_dirs.get((scale, kind))
        # The file sits in the LR root above the clip folders (REDS: X<s>/, Vimeo: two levels up).
        for candidate in (folder, *(folder.parents[:2] if folder else ())):
            meta = read_lr_meta(candidate)
            if meta is not None:
                return meta
        return None

    def read_lr(self, indices: Sequence[int], scale: int, kind: str) -> np.ndarray | None:
        folder = self.lr_dirs.get((scale, kind))
        if folder is None:
            return None
        paths = [folder / p.name for p in self.paths]
        return _stack([read_image(paths[i]) for i in indices], paths, indices)

    def frame_key(self, index: int) -> str:
        if self._keys is not None:
            return self._keys[index]
        return f"{self.name}/{Path(self.paths[index]).stem}"

    def __repr__(self) -> str:
        return f"FrameFolderClip({self.name!r}, {self.num_frames} frames)"


def _stack(frames: list[np.ndarray], paths: Sequence[Path], indices: Sequence[int]) -> np.ndarray:
    for frame, i in zip(frames, indices, strict=True):
        if frame.shape != frames[0].shape:
            raise UnreadableClipError(
                f"{paths[i]} is {frame.shape[1]}x{frame.shape[0]} but "
                f"{paths[indices[0]].name} is {frames[0].shape[1]}x{frames[0].shape[0]}: "
                "frames of a clip must share a size"
            )
    return np.stack(frames)


class VideoClip(Clip):
    """Frames of one video file, read by index (seek to the keyframe before, decode forward).

    Frame ``i`` is the ``i``-th frame of a linear decode (:mod:`vsr.video.index`), converted
    to RGB with the video's own matrix and range, exactly as ``vsr-upscale`` reads it.

    Args:
        path: the video file.
        cache_frames: decoded frames kept (LRU); at least a window's worth is always kept.

    Raises:
        VideoError: the file is missing or cannot be decoded.
    """

    def __init__(self, path: str | Path, cache_frames: int = 16) -> None:
        self.path = Path(path)
        self.name = self.path.stem
        self.video = VideoFile(self.path)
        self.num_frames = self.video.num_frames
        self.cache_frames = cache_frames
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def close(self) -> None:
        """Close the decoder (it reopens on the next read)."""
        self.video.close()

    def read(self, indices: Sequence[int]) -> np.ndarray:
        frames = self.video.read(list(indices), self._cache)
        while len(self._cache) > max(self.cache_frames, len(set(indices))):
            self._cache.popitem(last=False)
        return frames

    def __repr__(self) -> str:
        return f"VideoClip({str(self.path)!r}, {self.num_frames} frames)"
