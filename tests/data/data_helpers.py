"""Helpers shared by the data tests (a uniquely named module, importable from the tests)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

#: ../shared/data beside the repository (real videos and Vimeo-90K septuplets).
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (../shared/data beside the repo)")
    return path


def textured_frame(rng: np.random.Generator, h: int, w: int, t: int = 0) -> np.ndarray:
    """A smooth moving pattern plus noise: an (h, w, 3) uint8 RGB frame."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 70 * np.sin((xx + 2 * t) / 4.0) * np.cos((yy - t) / 5.0)
    img = np.stack([base, np.roll(base, 3, axis=1), 255 - base], axis=-1)
    img += rng.normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_rgb(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img[..., ::-1])
