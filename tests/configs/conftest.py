"""Fixtures for the config tests (frames_root, reds_root and one_thread are tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import textured_frame, write_rgb


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread: None) -> None:
    """Every config test that trains runs with one intra-op thread (tiny tensors)."""


@pytest.fixture
def vimeo_root(tmp_path: Path) -> Path:
    """Vimeo-90K septuplets: two train, one test sequence of 7 frames of 32x32."""
    rng = np.random.default_rng(1)
    root = tmp_path / "vimeo"
    for seq in ("00001/0001", "00001/0002", "00002/0001"):
        for i in range(1, 8):
            write_rgb(root / "sequences" / seq / f"im{i}.png", textured_frame(rng, 32, 32, i))
    (root / "sep_trainlist.txt").write_text("00001/0001\n00001/0002\n")
    (root / "sep_testlist.txt").write_text("00002/0001\n")
    return root
