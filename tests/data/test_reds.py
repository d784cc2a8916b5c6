"""REDS layout, partitions, meta info, and the train/val samples built from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import textured_frame, write_rgb
from vsr.conditions import degradation_id
from vsr.data.clips import window_indices
from vsr.data.datasets import TrainDataset, ValDataset
from vsr.data.degradations import imresize
from vsr.data.reds import REDSSource, read_meta_info
from vsr.data.sampling import DegradationSampler
from vsr.video.files import read_image as read_rgb


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """(..., 3, H, W) float in [0, 1] -> (..., H, W, 3) uint8 (exact for uint8-made tensors)."""
    return (t.movedim(-3, -1) * 255).round().to(torch.uint8).numpy()


def _locate(crop: np.ndarray, frame: np.ndarray) -> tuple[int, int]:
    """Top-left corner of ``crop`` inside ``frame`` (the only one)."""
    p, q = crop.shape[:2]
    hits = [
        (y, x)
        for y in range(frame.shape[0] - p + 1)
        for x in range(frame.shape[1] - q + 1)
        if np.array_equal(frame[y : y + p, x : x + q], crop)
    ]
    assert len(hits) == 1, f"crop found {len(hits)} times"
    return hits[0]


def test_reds4_partition(reds_root: Path) -> None:
    train = [c.name for c in REDSSource(reds_root, "train").clips()]
    val = [c.name for c in REDSSource(reds_root, "val").clips()]
    assert train == ["001", "002", "100"]
    assert val == ["000", "011", "015", "020"]
    clip = REDSSource(reds_root, "val").clips()[0]
    assert clip.num_frames == 9 and clip.frame_key(3) == "000/00000003"
    assert clip.has_lr(4, "bicubic") and not clip.has_lr(2, "bicubic")


def test_official_partition(reds_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="prepare_reds.py"):
        REDSSource(reds_root, "val", partition="official").clips()
    shutil.copytree(reds_root / "train_sharp" / "001", reds_root / "train_sharp" / "240")
    val = [c.name for c in REDSSource(reds_root, "val", partition="REDSofficial4").clips()]
    train = [c.name for c in REDSSource(reds_root, "train", partition="official").clips()]
    assert val == ["240"]
    assert "000" in train and "240" not in train
    with pytest.raises(ValueError, match="unknown REDS partition"):
        REDSSource(reds_root, "val", partition="REDS5")


def test_meta_info(reds_root: Path, tmp_path: Path) -> None:
    meta = tmp_path / "meta_info_REDS_GT.txt"
    meta.write_text("000 9 (24,36,3)\n002 9 (24,36,3)\n")
    assert read_meta_info(meta)[1] == ("002", 9, (24, 36, 3))
    assert [c.name for c in REDSSource(reds_root, "train", meta_info=meta).clips()] == ["002"]
    meta.write_text("000 9 (24,36,3)\n002 nine\n")
    with pytest.raises(ValueError, match=r"meta_info_REDS_GT.txt:2: expected"):
        read_meta_info(meta)


def test_missing_or_empty_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"REDS ground-truth folder not found.*train_sharp"):
        REDSSource(tmp_path / "nowhere").clips()
    (tmp_path / "REDS" / "train_sharp" / "001").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"001 holds no images"):
        REDSSource(tmp_path / "REDS").clips()


def test_window_padding() -> None:
    assert window_indices(0, 5, 9, "reflect") == [2, 1, 0, 1, 2]
    assert window_indices(8, 5, 9, "reflect") == [6, 7, 8, 7, 6]
    assert window_indices(0, 5, 9, "replicate") == [0, 0, 0, 1, 2]
    assert window_indices(4, 7, 5, "replicate") == [1, 2, 3, 4, 4, 4, 4]
    assert window_indices(0, 3, 1, "reflect") == [0, 0, 0]
    with pytest.raises(ValueError, match="padding"):
        window_indices(0, 3, 5, "wrap")


def _bicubic_only(scales: tuple[int, ...] = (4,)) -> DegradationSampler:
    return DegradationSampler(kinds=["bicubic"], scales=scales)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_train_sample_is_an_aligned_crop(reds_root: Path, scale: int) -> None:
    ds = TrainDataset(
        REDSSource(reds_root, "train"),
        _bicubic_only((scale,)),
        num_frames=3,
        patch_size=14,
        flip=False,
        rot90=False,
        reverse=False,
        use_precomputed=False,
    )
    # 3 clips x 7 centre frames whose 3-frame windows fit in 9 frames.
    assert len(ds) == 21
    torch.manual_seed(0)
    sample = ds[(4, scale)]
    patch = 14 - 14 % scale
    assert sample["lr"].shape == (3, 3, patch // scale, patch // scale)
    assert sample["lr"].dtype == torch.float32 and sample["hr"].shape == (3, patch, patch)
    assert sample["key"] == "001/00000005"
    assert sample["scale"].item() == scale and sample["scale"].dtype == torch.long
    assert sample["degradation"].item() == degradation_id("bicubic")
    assert sample["strength"].item() == 0.0 and sample["strength"].dtype == torch.float32
    hr = _to_uint8(sample["hr"])
    frames = [read_rgb(reds_root / "train_sharp" / "001" / f"{i:08d}.png") for i in (4, 5, 6)]
    y, x = _locate(hr, frames[1])
    assert y % scale == 0 and x % scale == 0
    for t, frame in enumerate(frames):  # every frame cropped at the same place, then BI
        expected = imresize(frame[y : y + patch, x : x + patch], 1 / scale)
        np.testing.assert_array_equal(_to_uint8(sample["lr"][t]), expected)


def test_precomputed_lr_is_read_and_aligned(reds_root: Path) -> None:
    ds = TrainDataset(
        REDSSource(reds_root, "train"),
        _bicubic_only((4,)),
        num_frames=3,
        patch_size=16,
        flip=False,
        rot90=True,  # a transpose commutes with the LR grid: must hit LR and HR alike
        reverse=True,
    )
    for seed in range(4):
        torch.manual_seed(seed)
        sample = ds[(0, 4)]
        centre = read_rgb(reds_root / "train_sharp" / "001" / "00000001.png")
        hr = _to_uint8(sample["hr"])
        transposed = not any(
            np.array_equal(centre[y : y + 16, x : x + 16], hr)
            for y in range(0, 9, 4)
            for x in range(0, 21, 4)
        )
        if transposed:
            hr = hr.transpose(1, 0, 2)
        y, x = _locate(hr, centre)
        lr_full = read_rgb(reds_root / "train_sharp_bicubic" / "X4" / "001" / "00000001.png")
        lr = _to_uint8(sample["lr"][1])
        lr = lr.transpose(1, 0, 2) if transposed else lr
        # The stored full-frame LR, cropped on the LR grid (differs from BI of the crop).
        np.testing.assert_array_equal(lr, lr_full[y // 4 : y // 4 + 4, x // 4 : x // 4 + 4])


def test_patch_larger_than_frames_is_a_clear_error(reds_root: Path) -> None:
    ds = TrainDataset(REDSSource(reds_root, "train"), _bicubic_only(), num_frames=3, patch_size=64)
    with pytest.raises(ValueError, match=r"36x24, smaller than the training patch 64x64"):
        ds[(0, 4)]


@pytest.mark.parametrize("padding", ["reflect", "replicate"])
def test_val_windows_padded_at_clip_start(reds_root: Path, padding: str) -> None:
    sampler = DegradationSampler(kinds=["bicubic"], scales=(4,), val_scales=(2, 3))
    ds = ValDataset(
        REDSSource(reds_root, "val"),
        sampler,
        num_frames=5,
        padding=padding,
        use_precomputed=False,
    )
    assert len(ds) == 2 * 4 * 9 and ds.groups[:36] == [2] * 36 and ds.groups[36:] == [3] * 36
    sample = ds[36]  # scale 3, clip 000, frame 0: whole frames, modcropped to 24x36
    assert sample["key"] == "000/00000000" and sample["scale"].item() == 3
    frames = [read_rgb(reds_root / "train_sharp" / "000" / f"{i:08d}.png") for i in range(3)]
    np.testing.assert_array_equal(_to_uint8(sample["hr"]), frames[0])
    expected = window_indices(0, 5, 9, padding)
    for t, i in enumerate(expected):
        np.testing.assert_array_equal(_to_uint8(sample["lr"][t]), imresize(frames[i], 1 / 3))


def test_val_is_deterministic_and_crops(reds_root: Path) -> None:
    sampler = DegradationSampler(
        kinds=["noise"], scales=(4,), val_scales=(4,), options={"noise_sigma": (5, 20)}
    )
    ds = ValDataset(
        REDSSource(reds_root, "val"),
        sampler,
        num_frames=3,
        crop_size=16,
        frame_stride=4,
        max_windows=5,
    )
    assert len(ds) == 5
    a, b = ds[2], ds[2]
    torch.testing.assert_close(a["lr"], b["lr"], rtol=0, atol=0)
    assert a["hr"].shape == (3, 16, 16) and a["lr"].shape == (3, 3, 4, 4)
    assert 0.1 <= a["strength"].item() <= 0.4  # sigma 5..20 of the 0..50 reference range


def test_frame_size_mismatch_in_precomputed_lr(reds_root: Path) -> None:
    # A wrong-size LR file must be reported, not silently misaligned.
    rng = np.random.default_rng(1)
    for i in range(9):
        write_rgb(
            reds_root / "train_sharp_bicubic" / "X4" / "001" / f"{i:08d}.png",
            textured_frame(rng, 5, 9),
        )
    ds = TrainDataset(REDSSource(reds_root, "train"), _bicubic_only(), num_frames=3, patch_size=16)
    with pytest.raises(ValueError, match=r"precomputed x4 LR of clip '001' is 9x5, expected 9x6"):
        ds[(0, 4)]


def test_augment_applies_the_same_ops_to_lr_and_hr() -> None:
    from vsr.data.datasets import _augment

    hr = np.arange(2 * 4 * 6 * 1).reshape(2, 4, 6, 1)
    lr = hr * 10
    out_hr, out_lr = _augment([hr, lr], hflip=True, vflip=True, rot=True, reverse=True)
    expected = hr[::-1, ::-1, ::-1].transpose(0, 2, 1, 3)
    np.testing.assert_array_equal(out_hr, expected)
    np.testing.assert_array_equal(out_lr, expected * 10)
    assert out_hr.shape == (2, 6, 4, 1) and out_hr.flags["C_CONTIGUOUS"]
    assert _augment([None], True, True, True, True) == [None]


def test_training_augmentation_varies_with_the_seed(reds_root: Path) -> None:
    ds = TrainDataset(
        REDSSource(reds_root, "train"),
        _bicubic_only(),
        num_frames=3,
        patch_size=24,
        use_precomputed=False,
    )
    centre = read_rgb(reds_root / "train_sharp" / "001" / "00000001.png")  # 24x36
    crops = [centre[:, x : x + 24] for x in range(0, 13)]
    views = {
        "plain": lambda c: c,
        "hflip": lambda c: c[:, ::-1],
        "vflip": lambda c: c[::-1],
        "transpose": lambda c: c.transpose(1, 0, 2),
    }
    seen = set()
    for seed in range(16):
        torch.manual_seed(seed)
        hr = _to_uint8(ds[(0, 4)]["hr"])
        for name, view in views.items():
            if any(np.array_equal(hr, view(c)) for c in crops):
                seen.add(name)
    assert len(seen) >= 3
