"""Side-by-side crops (bicubic | model | ground truth) for looking at results."""

from __future__ import annotations

import numpy as np

#: Grey gap between the panels, in pixels.
_GAP = 4


def centre_crop_box(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a ``size`` x ``size`` box at the image centre (clipped to the image)."""
    h, w = min(size, height), min(size, width)
    return (height - h) // 2, (width - w) // 2, h, w


def side_by_side(panels: list[np.ndarray], size: int) -> np.ndarray:
    """Crop the same centre box out of each (H, W, 3) uint8 image and join them left to right."""
    top, left, h, w = centre_crop_box(panels[0].shape[0], panels[0].shape[1], size)
    gap = np.full((h, _GAP, 3), 128, np.uint8)
    parts: list[np.ndarray] = []
    for i, img in enumerate(panels):
        if i:
            parts.append(gap)
        parts.append(img[top : top + h, left : left + w])
    return np.concatenate(parts, axis=1)
