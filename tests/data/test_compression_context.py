"""Compressed training samples are encoded as part of a longer, larger stream.

The reference is :func:`vsr.data.degradations.degrade` run on the whole clip (or on the crop
alone), then cut by hand: the dataset must hand out exactly those LR pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import textured_frame, write_rgb
from vsr.data.datasets import TrainDataset
from vsr.data.frames import FrameFolderSource
from vsr.data.sampling import DegradationSampler, sample_seed

FRAMES, SIZE, SCALE, PATCH = 9, 48, 4, 16


@pytest.fixture
def clip(tmp_path: Path) -> np.ndarray:
    """A 9-frame 48x48 textured clip on disk; returns its frames."""
    rng = np.random.default_rng(0)
    frames = np.stack([textured_frame(rng, SIZE, SIZE, t) for t in range(FRAMES)])
    for t, frame in enumerate(frames):
        write_rgb(tmp_path / "clip" / f"{t:04d}.png", frame)
    return frames


def _dataset(root: Path, kind: str, **context: int) -> TrainDataset:
    return TrainDataset(
        FrameFolderSource(root, "all"),
        DegradationSampler(kinds=[kind], scales=[SCALE], options={"crf": 30}),
        num_frames=5,
        patch_size=PATCH,
        flip=False,
        rot90=False,
        reverse=False,
        **context,
    )


def _draw(dataset: TrainDataset, index: int) -> tuple[dict, int]:
    """One sample and the degradation seed it used (drawn from torch's RNG)."""
    torch.manual_seed(index)
    seed = sample_seed()
    torch.manual_seed(index)
    return dataset[(index, SCALE)], seed


def _where(frames: np.ndarray, sample: dict) -> tuple[int, int, int]:
    """The window's centre frame and the crop's corner, found from the sample's HR."""
    centre = int(sample["key"].split("/")[-1])
    hr = (sample["hr"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    for y in range(0, SIZE - PATCH + 1, SCALE):
        for x in range(0, SIZE - PATCH + 1, SCALE):
            if np.array_equal(frames[centre, y : y + PATCH, x : x + PATCH], hr):
                return centre, y, x
    raise AssertionError("the HR crop is not in the clip")


def _as_uint8(lr: torch.Tensor) -> np.ndarray:
    return (lr.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


@pytest.mark.parametrize("index", [0, 2, 4])
def test_context_covering_the_clip_equals_compressing_the_whole_clip(
    clip: np.ndarray, tmp_path: Path, index: int
) -> None:
    dataset = _dataset(tmp_path, "compression", compression_context=FRAMES,
                       compression_margin=SIZE)
    sample, seed = _draw(dataset, index)
    centre, y, x = _where(clip, sample)
    whole, info = dataset.degradation.apply(clip, SCALE, "compression", seed)
    ly, lx, size = y // SCALE, x // SCALE, PATCH // SCALE
    expected = whole[centre - 2 : centre + 3, ly : ly + size, lx : lx + size]
    assert np.array_equal(_as_uint8(sample["lr"]), expected)
    assert sample["strength"].item() == pytest.approx(info["strength"])


def test_partial_context_is_cut_from_the_clip(clip: np.ndarray, tmp_path: Path) -> None:
    # 2 frames each side and 2 LR pixels (8 HR) around the crop, clamped to the clip.
    dataset = _dataset(tmp_path, "compression", compression_context=2, compression_margin=2)
    for index in range(5):
        sample, seed = _draw(dataset, index)
        centre, y, x = _where(clip, sample)
        t0, t1 = max(0, centre - 4), min(FRAMES, centre + 5)
        y0, x0 = max(0, y - 8), max(0, x - 8)
        block = np.ascontiguousarray(
            clip[t0:t1, y0 : min(SIZE, y + PATCH + 8), x0 : min(SIZE, x + PATCH + 8)]
        )
        lr, _ = dataset.degradation.apply(block, SCALE, "compression", seed)
        first, ly, lx = centre - 2 - t0, (y - y0) // SCALE, (x - x0) // SCALE
        expected = lr[first : first + 5, ly : ly + PATCH // SCALE, lx : lx + PATCH // SCALE]
        assert np.array_equal(_as_uint8(sample["lr"]), expected), index


def test_no_context_compresses_the_crop_alone(clip: np.ndarray, tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, "compression", compression_context=0, compression_margin=0)
    sample, seed = _draw(dataset, 3)
    centre, y, x = _where(clip, sample)
    crop = np.ascontiguousarray(clip[centre - 2 : centre + 3, y : y + PATCH, x : x + PATCH])
    expected, _ = dataset.degradation.apply(crop, SCALE, "compression", seed)
    assert np.array_equal(_as_uint8(sample["lr"]), expected)
    # ... which is not what the same pixels look like inside the whole stream.
    whole, _ = dataset.degradation.apply(clip, SCALE, "compression", seed)
    ly, lx, size = y // SCALE, x // SCALE, PATCH // SCALE
    assert not np.array_equal(expected, whole[centre - 2 : centre + 3, ly : ly + size,
                                              lx : lx + size])


def test_context_leaves_other_degradations_alone(clip: np.ndarray, tmp_path: Path) -> None:
    with_context = _dataset(tmp_path, "noise", compression_context=8, compression_margin=8)
    without = _dataset(tmp_path, "noise", compression_context=0, compression_margin=0)
    assert torch.equal(_draw(with_context, 1)[0]["lr"], _draw(without, 1)[0]["lr"])


def test_negative_context_is_refused(clip: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compression_context .* must be >= 0"):
        _dataset(tmp_path, "compression", compression_context=-1)
