"""``make demo`` (vsr.demo): the generated pan, the end-to-end run and its printed numbers."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsr import demo
from vsr.data.degradations import imresize_clip
from vsr.errors import UserError
from vsr.inference import save_model_file
from vsr.models import build_edvr
from vsr.video import open_reader
from vsr.video.panels import CAPTION_HEIGHT


def _y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma on the [16, 235] scale (MATLAB rgb2ycbcr), float64: an own reference."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _mean_psnr_y(outputs: np.ndarray, truth: np.ndarray) -> float:
    values = []
    for o, t in zip(outputs, truth, strict=True):
        mse = np.mean((_y(o) - _y(t)) ** 2)
        values.append(10.0 * np.log10(255.0**2 / mse))
    return float(np.mean(values))


def _decode(path: Path) -> np.ndarray:
    reader = open_reader(path)
    try:
        return np.stack([f.image for f in reader.frames()])
    finally:
        reader.close()


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deliberately small EDVR with seeded random weights, saved as the shipped format."""
    torch.manual_seed(0)
    model = build_edvr(
        "tiny", num_feat=8, deformable_groups=2, num_extract_block=1,
        num_reconstruct_block=1, num_hr_feat=8, num_frame=3, scales=[2, 4],
    )
    return save_model_file(model, tmp_path_factory.mktemp("ckpt") / "small.pt")


def test_integer_corners_give_exact_crops() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    corners = np.array([[0.0, 0.0], [3.0, 2.0], [7.0, 5.0]])
    frames = demo.pan_clip(image, corners, (20, 16))
    for frame, (x, y) in zip(frames, corners.astype(int), strict=True):
        np.testing.assert_array_equal(frame, image[y : y + 16, x : x + 20])


def test_half_pixel_step_samples_between_pixels() -> None:
    # On a linear ramp, interpolation half-way between columns gives the mean of the two.
    ramp = np.tile((np.arange(64) * 3).astype(np.uint8)[None, :, None], (32, 1, 3))
    frames = demo.pan_clip(ramp, np.array([[10.0, 4.0], [10.5, 4.0], [11.0, 4.0]]), (16, 8))
    expected = (frames[0].astype(np.float64) + frames[2]) / 2.0
    assert np.abs(frames[1] - expected).max() <= 1.0
    assert not np.array_equal(frames[1], frames[0])


def test_window_outside_the_photo_is_refused() -> None:
    image = np.zeros((30, 40, 3), np.uint8)
    with pytest.raises(UserError, match="leaves the 40x30 image"):
        demo.pan_clip(image, np.array([[0.0, 0.0], [25.5, 0.0]]), (16, 16))


def test_pan_eases_in_and_out() -> None:
    path = demo.pan_path(9, (0.0, 10.0), (8.0, 2.0))
    np.testing.assert_allclose(path[0], [0.0, 10.0])
    np.testing.assert_allclose(path[-1], [8.0, 2.0])
    np.testing.assert_allclose(path[4], [4.0, 6.0])  # the middle frame is half-way
    steps = np.diff(path[:, 0])
    assert (steps > 0).all() and steps[0] < steps[3]  # slow start, faster middle


def test_sample_photos_ship_with_scikit_image() -> None:
    image = demo.sample_image("astronaut")
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    with pytest.raises(UserError, match="expected one of astronaut"):
        demo.sample_image("lena")


def test_demo_end_to_end(tmp_path: Path, small_checkpoint: Path, capsys) -> None:
    out = tmp_path / "demo"
    argv = ["--output-dir", str(out), "--checkpoint", str(small_checkpoint), "--frames", "5",
            "--width", "48", "--height", "32", "--quiet"]
    assert demo.main(argv) == 0
    printed = capsys.readouterr().out

    truth = np.stack([cv2.imread(str(p))[..., ::-1] for p in sorted(out.glob("ground_truth/*"))])
    lr = _decode(out / "input_x4.mp4")
    sr = _decode(out / "upscaled_x4.mp4")
    assert truth.shape == (5, 32, 48, 3) and lr.shape == (5, 8, 12, 3) and sr.shape == truth.shape
    bicubic = imresize_clip(lr, 4.0)

    found = dict(re.findall(r"PSNR \(Y\) (bicubic|model):\s+([0-9.]+) dB", printed))
    assert float(found["bicubic"]) == pytest.approx(_mean_psnr_y(bicubic, truth), abs=0.006)
    assert float(found["model"]) == pytest.approx(_mean_psnr_y(sr, truth), abs=0.006)

    # The PNG: a caption strip over bicubic | model | ground truth of the middle frame.
    png = cv2.imread(str(out / "compare.png"))[..., ::-1]
    assert png.shape == (CAPTION_HEIGHT + 32, 3 * 48 + 2 * 4, 3)
    body = png[CAPTION_HEIGHT:]
    np.testing.assert_array_equal(body[:, :48], bicubic[2])
    np.testing.assert_array_equal(body[:, 52:100], sr[2])
    np.testing.assert_array_equal(body[:, 104:], truth[2])


def test_missing_checkpoint_says_what_to_do(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    missing = tmp_path / "nowhere.pt"
    assert demo.main(["--output-dir", str(out), "--checkpoint", str(missing)]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "checkpoints/vsr_tiny.pt" in err
    assert not out.exists()  # nothing is generated before the weights are found


def test_frame_size_must_divide_by_the_scale(tmp_path: Path, small_checkpoint: Path, capsys):
    argv = ["--output-dir", str(tmp_path), "--checkpoint", str(small_checkpoint),
            "--width", "50", "--height", "32"]
    assert demo.main(argv) == 1
    assert "50x32 must be a multiple of the scale 4" in capsys.readouterr().err
