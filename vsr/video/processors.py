"""What the streaming pipeline runs on each temporal window, and the bicubic baseline."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np


class FrameProcessor(Protocol):
    """Maps a batch of temporal windows to one output frame per window.

    Attributes:
        num_frames: window length T (odd); the output corresponds to the centre frame.
        scale: the output is ``scale`` times larger in both dimensions.
    """

    num_frames: int
    scale: int

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """(N, T, H, W, 3) uint8 RGB -> (N, scale*H, scale*W, 3) uint8 RGB."""
        ...


class OpenCVBicubicProcessor:
    """OpenCV's bicubic upscaling of the centre frame: ``--compare``'s left panel and the
    pipeline's fast baseline (``vsr-eval`` uses MATLAB's bicubic instead, as papers do).

    Args:
        scale: integer upscaling factor.
        num_frames: window length to request from the pipeline (only the centre is used;
            >1 exercises the same windowing a video model gets).
    """

    def __init__(self, scale: int = 4, num_frames: int = 1):
        self.scale = scale
        self.num_frames = num_frames

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        centre = windows[:, windows.shape[1] // 2]
        return np.stack([opencv_bicubic(frame, self.scale) for frame in centre])

    def __repr__(self) -> str:
        return f"OpenCVBicubicProcessor(scale={self.scale}, num_frames={self.num_frames})"


def opencv_bicubic(image: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (scale*H, scale*W, 3) uint8 by OpenCV's bicubic interpolation
    (Keys kernel with a = -0.75; MATLAB's imresize uses a = -0.5, see
    :func:`vsr.data.degradations.imresize`)."""
    h, w = image.shape[:2]
    return cv2.resize(image, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
