"""Atomic image writes: what is read back, and two processes writing one path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from vsr.video.png import save_jpeg, save_png


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 40, 3), dtype=np.uint8)


def test_png_round_trip_leaves_only_the_image(tmp_path: Path) -> None:
    rgb = _image()
    save_png(tmp_path / "sub" / "00000.png", rgb)
    back = cv2.imread(str(tmp_path / "sub" / "00000.png"))[..., ::-1]
    np.testing.assert_array_equal(back, rgb)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["00000.png"]


def test_jpeg_is_close(tmp_path: Path) -> None:
    rgb = np.full((32, 32, 3), (200, 40, 90), np.uint8)
    save_jpeg(tmp_path / "a.jpg", rgb, quality=95)
    back = cv2.imread(str(tmp_path / "a.jpg"))[..., ::-1]
    assert np.abs(back.astype(int) - rgb).max() <= 3


_WRITE_MANY = """
import sys
import numpy as np
from vsr.video.png import save_png
image = np.zeros((64, 64, 3), np.uint8)
for _ in range(300):
    save_png(sys.argv[1], image)
"""


def test_two_processes_can_write_the_same_image(tmp_path: Path) -> None:
    """Two benchmarks extracting the same frames at once: with one shared temporary name, one
    process renamed the other's temporary file away and failed (FileNotFoundError)."""
    target = tmp_path / "00000.png"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITE_MANY, str(target)], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [w.communicate()[1].decode() for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert [p.name for p in tmp_path.iterdir()] == ["00000.png"]
