"""Fixtures for the data tests: small trees in tmp_path that mirror the real layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import shared_path, textured_frame, write_rgb

from vsr.data.degradations import imresize


@pytest.fixture
def reds_root(tmp_path: Path) -> Path:
    """REDS-like tree: 7 clips x 9 frames of 24x36 (REDS4 clips + 3 others), with BI x4 and a
    nearest-neighbour 'precomputed' x2 folder that tests can tell apart from on-the-fly LR."""
    rng = np.random.default_rng(0)
    root = tmp_path / "REDS"
    for clip in ("000", "001", "002", "011", "015", "020", "100"):
        for i in range(9):
            frame = textured_frame(rng, 24, 36, i)
            write_rgb(root / "train_sharp" / clip / f"{i:08d}.png", frame)
            write_rgb(
                root / "train_sharp_bicubic" / "X4" / clip / f"{i:08d}.png", imresize(frame, 0.25)
            )
    return root


@pytest.fixture
def vimeo_list(tmp_path: Path) -> Path:
    """A list file (kept outside the real tree) naming three real septuplets."""
    shared_path("vimeo90k_mini", "sequences")
    path = tmp_path / "lists" / "sep_trainlist.txt"
    path.parent.mkdir(parents=True)
    path.write_text("00001/0001\n00001/0005\n\n00002/0008\n")
    return path
