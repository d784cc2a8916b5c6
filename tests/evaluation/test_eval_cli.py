"""``vsr-eval`` end to end on tiny generated trees and on the real Vimeo-90K septuplets."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision
from eval_frames import make_frames, write_frames

from tests.helpers import shared_path
from vsr import inference
from vsr.data.degradations import blur_downsample, imresize, imresize_clip
from vsr.evaluation import cli
from vsr.metrics import ssim


def _y(img: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma, written out independently of vsr.metrics."""
    r, g, b = (img[..., c].astype(np.float64) for c in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2))


def _expected_bicubic(frames: np.ndarray, scale: int, kind: str, y: bool) -> tuple[float, float]:
    """Per-clip mean PSNR/SSIM of the bicubic baseline, computed frame by frame."""
    h, w = frames.shape[1] // scale * scale, frames.shape[2] // scale * scale
    ps, ss = [], []
    for frame in frames[:, :h, :w]:
        if kind == "bicubic":
            lr = imresize(frame, 1 / scale)
        else:
            lr = blur_downsample(frame[None], scale)[0]
        up = imresize(lr, scale)
        assert up.shape == frame.shape
        ps.append(_psnr(_y(up), _y(frame)) if y else _psnr(up, frame))
        ss.append(ssim(up, frame, y_channel=y))
    return float(np.mean(ps)), float(np.mean(ss))


@pytest.mark.parametrize(("kind", "y"), [("bicubic", True), ("blur", False)])
def test_bicubic_method_json_csv_crops(
    tmp_path: Path, folder_tree: dict[str, np.ndarray], kind: str, y: bool
) -> None:
    out = tmp_path / "out"
    argv = [
        "--method", "bicubic", "--dataset-root", str(tmp_path / "gt"), "--layout", "folders",
        "--scale", "4", "--degradation", kind, "--no-lpips", "--device", "cpu",
        "--output-json", str(out / "r.json"), "--output-csv", str(out / "r.csv"),
        "--save-crops", str(out / "crops"), "--num-crops", "1", "--crop-size", "32",
    ]  # fmt: skip
    if not y:
        argv.append("--no-y-channel")
    assert cli.main(argv) == 0
    doc = json.loads((out / "r.json").read_text())
    assert set(doc) == {"average", "clips", "settings"}
    assert list(doc["clips"]) == ["a", "b"]
    expected = {name: _expected_bicubic(f, 4, kind, y) for name, f in folder_tree.items()}
    for name, (p, s) in expected.items():
        clip = doc["clips"][name]
        assert clip["psnr"] == pytest.approx(p, abs=1e-9)
        assert clip["ssim"] == pytest.approx(s, abs=1e-12)
        assert clip["lpips"] is None and clip["frames"] == len(folder_tree[name])
    # Mean of the clip means (not of the 5 frames).
    assert doc["average"]["psnr"] == pytest.approx(np.mean([e[0] for e in expected.values()]))
    assert doc["average"]["ssim"] == pytest.approx(np.mean([e[1] for e in expected.values()]))
    assert doc["average"]["lpips"] is None
    assert doc["settings"]["y_channel"] is y and doc["settings"]["degradation"] == kind

    rows = list(csv.reader((out / "r.csv").open()))
    assert rows[0] == ["clip", "frames", "psnr", "ssim", "lpips"]
    assert [r[0] for r in rows[1:]] == ["a", "b", "average"]
    assert float(rows[3][2]) == doc["average"]["psnr"] and rows[3][4] == ""

    # One crop (--num-crops 1): bicubic | ground truth of clip a's middle frame.
    assert [p.name for p in (out / "crops").iterdir()] == ["a.png"]
    crop = cv2.imread(str(out / "crops" / "a.png"))[..., ::-1]
    gt = folder_tree["a"][1]
    top, left = (gt.shape[0] - 32) // 2, (gt.shape[1] - 32) // 2
    np.testing.assert_array_equal(crop[:, -32:], gt[top : top + 32, left : left + 32])


def test_lr_tree_gives_the_same_numbers(
    tmp_path: Path, folder_tree: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    for name, frames in folder_tree.items():
        h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
        write_frames(tmp_path / "lr" / name, np.stack([imresize(f[:h, :w], 0.5) for f in frames]))
    base = ["--method", "bicubic", "--dataset-root", str(tmp_path / "gt"), "--no-lpips"]
    common = [*base, "--scale", "2", "--crop-border", "2"]
    assert cli.main([*common, "--output-json", str(tmp_path / "fly.json")]) == 0
    argv = [*common, "--lr-root", str(tmp_path / "lr"), "--output-json", str(tmp_path / "r.json")]
    assert cli.main(argv) == 0
    fly = json.loads((tmp_path / "fly.json").read_text())
    read = json.loads((tmp_path / "r.json").read_text())
    assert read["clips"] == fly["clips"] and read["settings"]["crop_border"] == 2
    # An LR tree at another scale than --scale is refused, naming the file.
    argv = [*base, "--scale", "3", "--lr-root", str(tmp_path / "lr")]
    capsys.readouterr()
    assert cli.main(argv) == 1  # a user error (vsr.command)
    assert "exceed the ground truth" in capsys.readouterr().err


def test_lpips_missing_is_null_and_said_once(
    tmp_path: Path,
    folder_tree: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("COLUMNS", "400")  # keep rich from wrapping the message
    argv = ["--method", "bicubic", "--dataset-root", str(tmp_path / "gt"),
            "--output-json", str(tmp_path / "r.json")]  # fmt: skip
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("LPIPS unavailable") == 1 and "alexnet-owt-7be5be79.pth" in err
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["average"]["lpips"] is None
    assert all(c["lpips"] is None for c in doc["clips"].values())
    assert all(math.isfinite(c["psnr"]) for c in doc["clips"].values())


def test_lpips_with_cached_backbone(
    tmp_path: Path, folder_tree: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in AlexNet checkpoint (convolutional part only) in the torch hub cache.
    torch.manual_seed(0)
    state = {
        f"features.{k}": v for k, v in torchvision.models.alexnet().features.state_dict().items()
    }
    cache = tmp_path / "cache" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(state, cache / "alexnet-owt-7be5be79.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "cache"))
    argv = ["--method", "bicubic", "--dataset-root", str(tmp_path / "gt"), "--device", "cpu",
            "--output-json", str(tmp_path / "r.json")]  # fmt: skip
    assert cli.main(argv) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    values = [c["lpips"] for c in doc["clips"].values()]
    assert all(v is not None and v > 0 for v in values)
    assert doc["average"]["lpips"] == pytest.approx(np.mean(values))


def test_missing_default_checkpoint_is_explained(
    tmp_path: Path,
    folder_tree: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(inference, "DEFAULT_CHECKPOINT", tmp_path / "checkpoints" / "vsr_tiny.pt")
    monkeypatch.setenv("COLUMNS", "400")
    assert cli.main(["--dataset-root", str(tmp_path / "gt"), "--no-lpips"]) == 1
    err = capsys.readouterr().err
    assert "vsr_tiny.pt does not exist" in err
    assert "--checkpoint" in err and "--method bicubic" in err


def test_vimeo_layout_on_real_septuplets(tmp_path: Path) -> None:
    root = shared_path("vimeo90k_mini", "sequences").parent
    clips = ["00001/0001", "00002/0008"]
    (tmp_path / "sep_testlist.txt").write_text("\n".join(clips) + "\n")
    argv = ["--method", "bicubic", "--layout", "vimeo", "--dataset-root", str(root),
            "--test-list", str(tmp_path / "sep_testlist.txt"), "--no-lpips",
            "--output-json", str(tmp_path / "r.json")]  # fmt: skip
    assert cli.main(argv) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["settings"]["y_channel"] is True and doc["settings"]["frames"] == "centre"
    for name in clips:
        # Vimeo-90K-T convention: the centre frame im4 only, on Y, no border crop.
        gt = cv2.imread(str(root / "sequences" / name / "im4.png"))[..., ::-1]
        up = imresize(imresize(gt, 0.25), 4)
        clip = doc["clips"][name]
        assert clip["frames"] == 1
        assert clip["psnr"] == pytest.approx(_psnr(_y(up), _y(gt)), abs=1e-9)
        assert clip["ssim"] == pytest.approx(ssim(up, gt, y_channel=True), abs=1e-12)
        assert 25 < clip["psnr"] < 45


@pytest.mark.slow
def test_model_method_with_exported_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vsr.models import build_edvr

    frames = make_frames(5, 3, h=32, w=40)
    write_frames(tmp_path / "gt" / "clip", frames)
    torch.manual_seed(0)
    ckpt = inference.save_model_file(build_edvr("tiny"), tmp_path / "tiny.pt")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    argv = ["--checkpoint", str(ckpt), "--dataset-root", str(tmp_path / "gt"), "--scale", "2",
            "--degradation", "blur", "--device", "cpu", "--output-json", str(tmp_path / "r.json"),
            "--save-crops", str(tmp_path / "crops"), "--crop-size", "24"]  # fmt: skip
    assert cli.main(argv) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["settings"]["method"] == "model" and doc["settings"]["checkpoint"] == str(ckpt)

    # The same numbers computed directly: BD x2 LR, the loaded model, Y-channel PSNR.
    lr = blur_downsample(frames, 2)
    model = inference.load_model(ckpt)
    sr = inference.upscale_frames(model, lr, 2, "blur", precision="fp32")
    expected = np.mean([_psnr(_y(s), _y(g)) for s, g in zip(sr, frames, strict=True)])
    assert doc["clips"]["clip"]["psnr"] == pytest.approx(expected, abs=1e-9)
    assert doc["average"]["lpips"] is None  # no backbone in the empty TORCH_HOME

    # bicubic | model | ground truth, each 24 wide, with two 4-pixel gaps.
    crop = cv2.imread(str(tmp_path / "crops" / "clip.png"))[..., ::-1]
    assert crop.shape == (24, 3 * 24 + 2 * 4, 3)
    top, left = (32 - 24) // 2, (40 - 24) // 2
    np.testing.assert_array_equal(crop[:, 28:52], sr[1, top : top + 24, left : left + 24])


def test_vimeo_model_scores_the_centre_window_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vimeo-90K-T scores im4 of each septuplet: the network runs that one window (not
    seven), and its score equals im4's in an upscale of the whole septuplet."""
    from vsr.models import EDVR, build_edvr

    frames = make_frames(7, 7, h=32, w=40)
    write_frames(tmp_path / "sequences" / "00001" / "0001", frames,
                 [f"im{i}.png" for i in range(1, 8)])  # fmt: skip
    (tmp_path / "list.txt").write_text("00001/0001\n")
    torch.manual_seed(0)
    ckpt = inference.save_model_file(build_edvr("tiny"), tmp_path / "tiny.pt")
    windows_run = []
    original = EDVR.restore

    def counting_restore(self, features, centre, *args, **kwargs):
        windows_run.append(len(centre))
        return original(self, features, centre, *args, **kwargs)

    monkeypatch.setattr(EDVR, "restore", counting_restore)
    argv = ["--checkpoint", str(ckpt), "--layout", "vimeo", "--dataset-root", str(tmp_path),
            "--test-list", str(tmp_path / "list.txt"), "--scale", "4", "--device", "cpu",
            "--no-lpips", "--output-json", str(tmp_path / "r.json")]  # fmt: skip
    assert cli.main(argv) == 0
    assert sum(windows_run) == 1
    psnr = json.loads((tmp_path / "r.json").read_text())["clips"]["00001/0001"]["psnr"]

    lr = imresize_clip(frames, 0.25)
    sr = inference.upscale_frames(inference.load_model(ckpt), lr, 4, precision="fp32")
    assert psnr == pytest.approx(_psnr(_y(sr[3]), _y(frames[3])), abs=1e-9)
