"""scripts/prepare_reds.py and scripts/prepare_vimeo.py (their logic in vsr.data.prepare)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import shared_path, textured_frame, write_rgb
from vsr.data.datasets import ValDataset
from vsr.data.degradations import blur_downsample, imresize
from vsr.data.prepare import precompute_lr, reds_main, vimeo_main
from vsr.data.reds import REDSSource, read_meta_info
from vsr.data.sampling import DegradationSampler
from vsr.data.vimeo import VimeoSource
from vsr.video.files import read_image as read_rgb


def _official_reds(root: Path) -> None:
    """The official archives unpacked: train_sharp 000-001, val_sharp 000-001, BI x4 of both."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for clip in ("000", "001"):
            for i in range(3):
                frame = textured_frame(rng, 24, 36, i)
                write_rgb(root / f"{split}_sharp" / clip / f"{i:08d}.png", frame)
                write_rgb(
                    root / f"{split}_sharp_bicubic" / "X4" / clip / f"{i:08d}.png",
                    imresize(frame, 0.25),
                )


def test_prepare_reds_regroups_writes_meta_and_lr(tmp_path: Path, capsys) -> None:
    root = tmp_path / "REDS"
    _official_reds(root)
    val_frame = read_rgb(root / "val_sharp" / "001" / "00000002.png")
    assert reds_main([str(root), "--scales", "2", "--degradations", "bicubic", "blur"]) == 0
    gt = root / "train_sharp"
    assert sorted(p.name for p in gt.iterdir()) == ["000", "001", "240", "241"]
    assert not any((root / "val_sharp").iterdir())  # moved, not copied
    np.testing.assert_array_equal(read_rgb(gt / "241" / "00000002.png"), val_frame)
    assert (root / "train_sharp_bicubic" / "X4" / "241" / "00000002.png").is_file()
    assert read_meta_info(root / "meta_info_REDS_GT.txt") == [
        (name, 3, (24, 36, 3)) for name in ("000", "001", "240", "241")
    ]
    lr = read_rgb(root / "train_sharp_bicubic" / "X2" / "241" / "00000002.png")
    np.testing.assert_array_equal(lr, imresize(val_frame, 0.5))
    blur = read_rgb(root / "train_sharp_blur" / "X2" / "241" / "00000002.png")
    np.testing.assert_array_equal(blur, blur_downsample(val_frame[None], 2)[0])
    meta = json.loads((root / "train_sharp_blur" / "X2" / "degradation.json").read_text())
    assert meta == {
        "degradation": "blur",
        "scale": 2,
        "params": {"blur_sigma": 1.6, "blur_kernel_size": 13},
    }
    # Running again is harmless.
    assert reds_main([str(root)]) == 0
    assert "already regrouped" in capsys.readouterr().out

    clip = REDSSource(root, "val", partition="official").clips()[1]
    assert clip.name == "241" and clip.has_lr(2, "blur") and clip.has_lr(4, "bicubic")
    fixed = DegradationSampler(kinds=["blur"], options={"blur_sigma": 1.6})
    ranged = DegradationSampler(kinds=["blur"], options={"blur_sigma": (1.0, 2.0)})
    assert fixed.precomputed_matches("blur", clip.lr_meta(2, "blur"))
    assert not ranged.precomputed_matches("blur", clip.lr_meta(2, "blur"))
    assert not fixed.precomputed_matches("noise", None)


def _fails_with(capsys: pytest.CaptureFixture[str], status: int, pattern: str) -> None:
    """The command returned 1 and printed one line matching ``pattern``."""
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err


def test_prepare_reds_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = reds_main([str(tmp_path / "nowhere")])
    _fails_with(capsys, status, r"train_sharp folder not found.*nowhere/train_sharp")
    root = tmp_path / "REDS"
    write_rgb(root / "train_sharp" / "000" / "00000000.png", np.zeros((8, 8, 3), np.uint8))
    status = reds_main([str(root)])
    _fails_with(capsys, status, r"expected .*REDS/val_sharp \(unpack val_sharp.zip\)")
    assert reds_main([str(root), "--no-regroup"]) == 0
    with pytest.raises(ValueError, match="cannot precompute 'noise'"):
        precompute_lr([], tmp_path / "lr", 4, "noise")


def test_prepare_vimeo_on_real_septuplets(tmp_path: Path) -> None:
    sequences = shared_path("vimeo90k_mini", "sequences")
    every = tmp_path / "all.txt"
    args = [str(tmp_path), "--sequences", str(sequences), "--meta-dir", str(tmp_path)]
    # --write-list finds every complete septuplet; checking it needs no other list.
    assert vimeo_main([*args, "--write-list", str(every), "--lists", str(every)]) == 0
    ids = every.read_text().split()
    assert len(ids) == 16 and ids[0] == "00001/0001" and ids[-1] == "00002/0008"
    short = tmp_path / "sep_testlist.txt"
    short.write_text("00002/0003\n")
    lr_dir = tmp_path / "lr"
    assert vimeo_main([*args, "--lists", str(short), "--lr-dir", str(lr_dir), "--scales", "4"]) == 0
    assert (tmp_path / "meta_info_Vimeo90K_sep_testlist_GT.txt").read_text() == (
        "00002/0003 7 (256,448,3)\n"
    )
    lr_im4 = lr_dir / "sequences_bicubic_X4" / "00002" / "0003" / "im4.png"
    hr_im4 = read_rgb(sequences / "00002" / "0003" / "im4.png")
    np.testing.assert_array_equal(read_rgb(lr_im4), imresize(hr_im4, 0.25))

    source = VimeoSource(tmp_path, split="val", sequences_dir=sequences, lr_dir=lr_dir)
    clip = source.clips()[0]
    assert clip.has_lr(4, "bicubic") and not clip.has_lr(2, "bicubic")
    # The dataset reads the stored LR: a marked file shows up in the sample.
    write_rgb(lr_im4, np.zeros((64, 112, 3), np.uint8))
    ds = ValDataset(source, DegradationSampler(kinds=["bicubic"], val_scales=(4,)), num_frames=3)
    sample = ds[0]
    assert float(sample["lr"][1].abs().max()) == 0.0
    assert float(sample["lr"][0].max()) > 0
    torch.testing.assert_close(sample["hr"].movedim(0, -1) * 255, torch.from_numpy(hr_im4).float())


def test_prepare_vimeo_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = vimeo_main([str(tmp_path / "missing")])
    _fails_with(capsys, status, r"sequences folder not found.*missing/sequences")
    sequences = shared_path("vimeo90k_mini", "sequences")
    bad = tmp_path / "sep_trainlist.txt"
    bad.write_text("00001/0001\n00003/0001\n")
    status = vimeo_main([str(tmp_path), "--sequences", str(sequences), "--lists", str(bad)])
    _fails_with(capsys, status, r"1 septuplets listed in .* first: 00003/0001")
    bad.write_text("00001/0001\n")  # the train list is fine now; the test list is missing
    status = vimeo_main([str(tmp_path), "--sequences", str(sequences)])
    _fails_with(capsys, status, r"list file not found: .*sep_testlist.txt")
