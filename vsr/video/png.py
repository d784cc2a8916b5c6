"""Writing single RGB images as PNG files, atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def save_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` uint8 RGB image to ``path``.

    The file is written under a temporary name beside ``path`` and renamed at the end, so a
    failure never leaves a half-written image at ``path``.

    Raises:
        OSError: if OpenCV cannot write the file (e.g. the folder is not writable).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)
