"""Texture-biased training crops: flat crops are redrawn when ``min_texture`` is set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import textured_frame, write_rgb
from vsr.data.datasets import TrainDataset, patch_texture
from vsr.data.frames import FrameFolderSource
from vsr.data.sampling import DegradationSampler


def test_patch_texture_known_values() -> None:
    assert patch_texture(np.full((8, 8, 3), 90, np.uint8)) == 0.0
    stripes = np.zeros((8, 8, 3), np.uint8)
    stripes[:, ::2] = 255  # every horizontal neighbour differs by 1, vertical ones by 0
    assert patch_texture(stripes) == pytest.approx(0.5)
    steps = np.repeat((np.arange(8) * 10).astype(np.uint8)[:, None], 8, axis=1)
    grey = np.stack([steps] * 3, axis=-1)  # rows 10 levels apart: dy = 10/255, dx = 0
    assert patch_texture(grey) == pytest.approx(10 / 255 / 2, rel=1e-5)


@pytest.fixture
def half_flat_clip(tmp_path: Path) -> Path:
    """5 frames of 64x64: columns 0-47 flat grey, 48-63 noisy texture."""
    rng = np.random.default_rng(0)
    for t in range(5):
        img = np.full((64, 64, 3), 128, np.uint8)
        img[:, 48:] = textured_frame(rng, 64, 16, t)
        write_rgb(tmp_path / "clip" / f"{t:04d}.png", img)
    return tmp_path


def _flat_share(root: Path, **crop_options: float) -> float:
    torch.manual_seed(0)  # crops are drawn from torch's RNG: fixed draws, no flaky counts
    dataset = TrainDataset(
        FrameFolderSource(root, "all"),
        DegradationSampler(kinds=["bicubic"], scales=[4]),
        num_frames=3,
        patch_size=16,
        **crop_options,
    )
    textures = [
        patch_texture(
            (dataset[(i % len(dataset), 4)]["hr"].permute(1, 2, 0).numpy() * 255)
            .round()
            .astype(np.uint8)
        )
        for i in range(60)
    ]
    return float(np.mean(np.array(textures) == 0.0))


def test_flat_crops_are_redrawn(half_flat_clip: Path) -> None:
    # Random corners land entirely in the flat part 9 times out of 13 (x in 0..32 of 0..48).
    assert _flat_share(half_flat_clip) > 0.5
    assert _flat_share(half_flat_clip, min_texture=0.005, crop_tries=30) == 0.0


def test_crop_options_are_checked(half_flat_clip: Path) -> None:
    with pytest.raises(ValueError, match="min_texture must be >= 0 and crop_tries >= 1"):
        TrainDataset(
            FrameFolderSource(half_flat_clip, "all"),
            DegradationSampler(kinds=["bicubic"], scales=[4]),
            num_frames=3,
            patch_size=16,
            crop_tries=0,
        )
