"""Images side by side (bicubic | model | ground truth): the one composer every tool uses.

``vsr-upscale --compare``, ``vsr-eval --save-crops``, the demo and the training's validation
images all join their panels here, so they look alike: the same centre crop of each panel
(optional), a grey gap between them and, optionally, a caption strip above.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: Grey gap between the panels, in pixels.
GAP = 4
#: Height of the caption strip, in pixels.
CAPTION_HEIGHT = 18


def centre_crop_box(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a ``size`` x ``size`` box at the image centre (clipped to the image)."""
    h, w = min(size, height), min(size, width)
    return (height - h) // 2, (width - w) // 2, h, w


def side_by_side(
    panels: Sequence[np.ndarray], captions: Sequence[str] | None = None, crop: int | None = None
) -> np.ndarray:
    """Join (H, W, 3) uint8 RGB images of one size left to right.

    Args:
        panels: the images.
        captions: one caption per panel, written in a strip above it (None: no strip).
        crop: keep the same centre ``crop`` x ``crop`` box of each panel (None: all of it).

    Returns:
        (H', W', 3) uint8 RGB.
    """
    height, width = panels[0].shape[:2]
    top, left, h, w = centre_crop_box(height, width, crop) if crop else (0, 0, height, width)
    gap = np.full((h, GAP, 3), 128, np.uint8)
    parts: list[np.ndarray] = []
    for i, image in enumerate(panels):
        if image.shape[:2] != (height, width):
            raise ValueError(f"panel {i} is {image.shape[:2]}, panel 0 is {(height, width)}")
        if i:
            parts.append(gap)
        parts.append(image[top : top + h, left : left + w])
    joined = np.concatenate(parts, axis=1)
    if captions is None:
        return joined
    strip = np.zeros((CAPTION_HEIGHT, joined.shape[1], 3), np.uint8)
    for i, text in enumerate(captions):
        x = i * (w + GAP) + 4
        cv2.putText(strip, text, (x, CAPTION_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([strip, joined], axis=0)
