"""Clips: the unit every dataset layout is reduced to.

A :class:`Clip` is an ordered run of frames with a name and a way to read any subset of its
frames as a ``(T, H, W, 3)`` uint8 RGB array; optionally also precomputed low-resolution frames.
A :class:`ClipSource` turns a layout on disk (REDS, Vimeo-90K, frame folders, videos) into a
list of clips plus the centre frames a split uses. The datasets in :mod:`vsr.data.datasets`
only see clips, so every layout gets the same cropping, augmentation and degradation.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

#: Image extensions recognised in frame folders.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

#: Name of the file written next to precomputed LR frames describing how they were made.
LR_META_FILE = "degradation.json"


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Raises:
        FileNotFoundError: the file is missing or OpenCV cannot decode it.
    """
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path} (missing, empty or not an image)")
    return np.ascontiguousarray(img[..., ::-1])


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural order."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def require_dir(path: Path, what: str, hint: str = "") -> Path:
    """Return ``path`` if it is a directory, else raise an error naming what was expected."""
    path = Path(path)
    if not path.is_dir():
        extra = f" {hint}" if hint else ""
        raise FileNotFoundError(f"{what} not found: expected a folder at {path}.{extra}")
    return path


def window_indices(
    centre: int, num_frames: int, length: int, padding: str = "reflect"
) -> list[int]:
    """Indices of the ``num_frames`` window around ``centre`` in a clip of ``length`` frames.

    At the clip ends the window is padded: ``"replicate"`` repeats the edge frame
    (``-1 -> 0``), ``"reflect"`` mirrors without repeating it (``-1 -> 1``), which keeps real
    motion in the padded frames; a clip too short to reflect falls back to replicate.
    """
    half = num_frames // 2
    out = []
    for i in range(centre - half, centre + half + 1):
        if padding == "reflect" and length > 1:
            period = 2 * (length - 1)
            i = i % period
            i = period - i if i >= length else i
        elif padding in ("replicate", "reflect"):
            i = min(max(i, 0), length - 1)
        else:
            raise ValueError(
                f"unknown window padding {padding!r}: expected 'reflect' or 'replicate'"
            )
        out.append(i)
    return out


def read_lr_meta(folder: Path) -> dict[str, Any] | None:
    """The ``degradation.json`` next to precomputed LR frames, or None when absent."""
    meta = folder / LR_META_FILE
    if not meta.is_file():
        return None
    return json.loads(meta.read_text())


class Clip(ABC):
    """An ordered run of frames.

    Attributes:
        name: identifier used in batch keys (``"<name>/<frame index>"``).
        num_frames: number of frames.
    """

    name: str
    num_frames: int

    @abstractmethod
    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` as ``(T, H, W, 3)`` uint8 RGB."""

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
    """

    def __init__(
        self,
        name: str,
        paths: Sequence[Path],
        lr_dirs: dict[tuple[int, str], Path] | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        if not paths:
            raise ValueError(f"clip {name!r} has no frames")
        self.name = name
        self.paths = [Path(p) for p in paths]
        self.num_frames = len(self.paths)
        self.lr_dirs = dict(lr_dirs or {})
        self._keys = list(keys) if keys is not None else None

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return np.stack([read_rgb(self.paths[i]) for i in indices])

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
        return np.stack([read_rgb(folder / self.paths[i].name) for i in indices])

    def frame_key(self, index: int) -> str:
        if self._keys is not None:
            return self._keys[index]
        return f"{self.name}/{Path(self.paths[index]).stem}"

    def __repr__(self) -> str:
        return f"FrameFolderClip({self.name!r}, {self.num_frames} frames)"


class ClipSource(ABC):
    """A dataset layout on disk, reduced to clips and the centre frames a split samples.

    Scanning happens in :meth:`clips`, not in ``__init__``, so configs can be composed and
    instantiated without the data present; errors name the folder or file expected.
    """

    @abstractmethod
    def clips(self) -> list[Clip]:
        """Scan the layout and return its clips (raises a clear error when malformed)."""

    def centres(self, clip: Clip, num_frames: int, training: bool) -> list[int]:
        """Centre frame indices sampled from ``clip``.

        Training uses only windows that fit inside the clip (no padded frames); validation
        uses every frame, with windows padded at the clip ends.
        """
        if not training:
            return list(range(clip.num_frames))
        half = num_frames // 2
        return list(range(half, clip.num_frames - half))
