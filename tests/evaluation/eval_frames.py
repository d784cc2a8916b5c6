"""Helpers writing tiny generated frame trees for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def make_frames(seed: int, n: int, h: int = 48, w: int = 56) -> np.ndarray:
    """(n, h, w, 3) uint8 RGB frames of smooth moving content plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    frames = []
    for t in range(n):
        phase = rng.uniform(0, 6) + 0.3 * t
        chans = [
            128 + 90 * np.sin(xx / (4 + c) + phase) * np.cos(yy / (5 + 2 * c) - phase)
            for c in range(3)
        ]
        img = np.stack(chans, axis=-1) + rng.normal(0, 6, (h, w, 3))
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_frames(folder: Path, frames: np.ndarray, names: list[str] | None = None) -> list[Path]:
    """Write RGB frames as PNG (BGR on disk, as OpenCV expects)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{i:08d}.png" for i in range(len(frames))]
    paths = []
    for name, frame in zip(names, frames, strict=True):
        path = folder / name
        assert cv2.imwrite(str(path), frame[..., ::-1])
        paths.append(path)
    return paths
