"""Fixtures shared by the test folders (pytest finds them here for every test below).

Helpers that tests import are in tests/helpers.py. Imports stay light (no cv2, Hydra or
vsr.data at module level): scripts/check_cuda.sh runs tests/ops on GPU machines that may
lack them, and pytest loads this file for those tests too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import make_frames_tree, textured_frame, write_rgb


@pytest.fixture
def frames_root(tmp_path: Path) -> Path:
    """Frame folders: clips a, b train, c validates (5 frames of 32x32 each)."""
    return make_frames_tree(tmp_path / "frames", ("a", "b", "c"))


@pytest.fixture
def reds_root(tmp_path: Path) -> Path:
    """REDS-like tree: 7 clips x 9 frames of 24x36 (the REDS4 clips 000, 011, 015, 020 and
    three training clips), with precomputed bicubic x4 LR as the official release has."""
    from vsr.data.degradations import imresize  # here: see the module docstring

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


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: much faster for tiny tensors on a busy machine (no spinning
    OpenMP threads). Module scope, so module-scoped fixtures that train run with it too;
    tests/training and tests/configs use it for every test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
