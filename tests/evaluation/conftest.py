"""Tiny generated frame trees for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eval_frames import make_frames, write_frames


@pytest.fixture
def folder_tree(tmp_path: Path) -> dict[str, np.ndarray]:
    """``tmp_path/gt/<clip>/*.png``: clip 'a' with 3 frames, 'b' with 2 (odd size 50x58).

    Returns the frames by clip name; the clips differ in length so that the mean of clip
    means differs from the mean over all frames.
    """
    clips = {"a": make_frames(1, 3), "b": make_frames(2, 2, h=50, w=58)}
    for name, frames in clips.items():
        write_frames(tmp_path / "gt" / name, frames)
    return clips
