"""Finding clips on disk and reading images: the one lister and the one image reader.

Frame folders, video folders and dataset layouts all list their files here, with one set of
suffixes and one natural order (``frame2.png`` before ``frame10.png``), and every image is
read by :func:`read_image` (8-bit RGB whatever the file's depth, channels or EXIF rotation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vsr.video.errors import ClipNotFoundError, UnreadableClipError

#: Image files recognised as frames (compared case-insensitively).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Video files picked up when a folder of videos is given.
VIDEO_SUFFIXES: tuple[str, ...] = (
    ".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".wmv",
    ".flv",
)


def natural_key(name: str) -> tuple[list[Any], str]:
    """Sort key that orders ``frame2`` before ``frame10`` (case-insensitive, ties by name)."""
    parts = [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]
    # Mixed int/str comparisons cannot happen: re.split alternates text and digit runs.
    return parts, name


def natural_sorted(paths: Sequence[Path]) -> list[Path]:
    """``paths`` sorted by file name in natural order."""
    return sorted(paths, key=lambda p: natural_key(p.name))


def require_dir(path: str | Path, what: str, hint: str = "") -> Path:
    """Return ``path`` if it is a folder, else raise :class:`ClipNotFoundError` naming it."""
    path = Path(path)
    if not path.is_dir():
        extra = f" {hint}" if hint else ""
        raise ClipNotFoundError(f"{what} not found: expected a folder at {path}.{extra}")
    return path


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural order."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return natural_sorted(files)


def list_videos(folder: str | Path) -> list[Path]:
    """Video files directly inside ``folder``, in natural order."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    return natural_sorted(files)


def list_folders(folder: str | Path) -> list[Path]:
    """Sub-folders of ``folder`` (hidden ones skipped), in natural order."""
    folder = Path(folder)
    return natural_sorted(
        [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    )


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB.

    Grey images are expanded to three channels, alpha is dropped, 16-bit images are rounded
    to 8 bits (``v / 257``), and JPEG EXIF orientation is applied (as viewers show it).

    Raises:
        ClipNotFoundError: the file does not exist.
        UnreadableClipError: OpenCV cannot decode it (empty, damaged, not an image).
    """
    path = Path(path)
    if not path.is_file():
        raise ClipNotFoundError(f"image not found: {path}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise UnreadableClipError(
            f"cannot read image {path}: not an image OpenCV can decode (empty or damaged?)"
        )
    if image.dtype == np.uint16:
        image = ((image.astype(np.float32) / 257.0) + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UnreadableClipError(f"cannot read image {path}: unsupported type {image.dtype}")
    return np.ascontiguousarray(image[..., ::-1])


def read_images(paths: Sequence[str | Path]) -> np.ndarray:
    """Read images of one clip as ``(T, H, W, 3)`` uint8 RGB.

    Raises:
        ClipNotFoundError, UnreadableClipError: a missing or unreadable file, or frames
            of different sizes (named with both sizes).
    """
    frames: list[np.ndarray] = []
    for path in paths:
        image = read_image(path)
        if frames and image.shape != frames[0].shape:
            raise UnreadableClipError(
                f"{path} is {image.shape[1]}x{image.shape[0]} but the clip's first frame is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}: frames of a clip must share a size"
            )
        frames.append(image)
    if not frames:
        raise UnreadableClipError("no frames to read (an empty list of image files)")
    return np.stack(frames)
