"""Fixtures for the training tests (frames_root and one_thread are tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import shared_path


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread: None) -> None:
    """Every training test runs with one intra-op thread (tiny tensors)."""


@pytest.fixture
def two_videos(tmp_path: Path) -> Path:
    """A folder linking the two smallest real clips (skips without ../shared/data), plus a
    generated AVI of H.264 with B-frames (decode-order timestamps), which trains too."""
    from tests.video.awkward_videos import avi_bframes

    names = ("imageio_realshort.mp4", "mmagic_test_inference.mp4")
    videos = [shared_path("videos", n) for n in names]
    folder = tmp_path / "videos"
    folder.mkdir()
    for video in videos:
        (folder / video.name).symlink_to(video.resolve())
    avi_bframes(folder)  # bframes.avi: first in natural order, so a training clip
    return folder
