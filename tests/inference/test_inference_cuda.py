"""GPU inference: half precision and bf16 autocast agree with fp32 (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inference_testdata import tiny_model, video

from vsr.inference import upscale_frames, upscale_video
from vsr.inference.runtime import resolve_device, resolve_precision

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _clip() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3, 32, 40, 3), dtype=np.uint8)


def test_auto_picks_cuda_and_half_precision():
    device = resolve_device("auto")
    assert device.type == "cuda"
    assert resolve_precision("auto", device) in ("bf16", "fp16")


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_close_to_fp32(precision):
    model = tiny_model(residual_gain=30)
    clip = _clip()
    cpu = upscale_frames(model, clip, scale=4, precision="fp32").astype(int)
    gpu_model = model.to("cuda")
    fp32 = upscale_frames(gpu_model, clip, scale=4, precision="fp32").astype(int)
    half = upscale_frames(gpu_model, clip, scale=4, precision=precision).astype(int)
    assert np.abs(fp32 - cpu).max() <= 1
    assert np.abs(half - fp32).mean() < 1.0


def test_video_on_gpu_batched(tmp_path):
    src = video("mmagic_test_inference.mp4")
    model = tiny_model().to("cuda")
    result = upscale_video(src, tmp_path / "o.mp4", model=model, batch=4, tile=32)
    assert result.frames == 5
