"""upscale_frames and tiling against direct, hand-built model calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from inference_testdata import tiny_model

from vsr.inference import InferenceError, tiled_forward, upscale_frames
from vsr.inference.upscale import DEFAULT_TILE_OVERLAP


def _clip(t=4, h=24, w=32, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (t, 3, h // 4, w // 4)).astype(np.float32)
    smooth = F.interpolate(torch.from_numpy(low), size=(h, w), mode="bilinear")
    return smooth.permute(0, 2, 3, 1).round().clamp(0, 255).numpy().astype(np.uint8)


def _reference(model, clip, scale):
    """Direct model calls with windows built by hand (reflected at the ends: 2 1 [0] 1 2)."""
    t = len(clip)
    r = model.num_frames // 2
    x = torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255
    out = []
    with torch.no_grad():
        for i in range(t):
            idx = [abs(j) if j < t else 2 * (t - 1) - j for j in range(i - r, i + r + 1)]
            y = model(x[idx][None], scale, "bicubic")[0]
            out.append((y.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
    return np.stack(out)


def test_upscale_frames_matches_direct_calls():
    model = tiny_model(residual_gain=30)
    clip = _clip()
    got = upscale_frames(model, clip, scale=2)
    assert got.shape == (4, 48, 64, 3) and got.dtype == np.uint8
    want = _reference(model, clip, 2)
    assert np.abs(got.astype(int) - want).max() <= 1  # float summation order only
    batched = upscale_frames(model, clip, scale=2, batch=3)
    assert np.abs(batched.astype(int) - want).max() <= 1


def test_tiled_equals_untiled_no_seams():
    """Strong residual (gain 30) so seams would show; overlap 0 proves the test can fail."""
    model = tiny_model(residual_gain=30)
    clip = _clip(t=2, h=32, w=40, seed=1)  # 2 x 3 tiles of 16
    whole = upscale_frames(model, clip, scale=2).astype(int)
    tiled = upscale_frames(model, clip, scale=2, tile=16).astype(int)
    assert DEFAULT_TILE_OVERLAP >= 16
    assert np.abs(tiled - whole).max() <= 1
    no_overlap = upscale_frames(model, clip, scale=2, tile=16, tile_overlap=0).astype(int)
    assert np.abs(no_overlap - whole).max() > 20


def test_tiled_forward_places_tiles_exactly():
    """A purely local function: tiled and untiled must agree bit for bit, any tile size."""
    def fn(t):
        return F.interpolate(t[:, t.shape[1] // 2], scale_factor=3, mode="nearest") * 2

    x = torch.rand(2, 3, 3, 23, 37)
    for tile, overlap in [(4, 0), (8, 4), (12, 8), (64, 0)]:
        torch.testing.assert_close(tiled_forward(fn, x, 3, tile, overlap), fn(x), rtol=0, atol=0)


def test_bad_options():
    model = tiny_model()
    with pytest.raises(InferenceError, match="--scale 5 is not served"):
        upscale_frames(model, _clip(), scale=5)
    with pytest.raises(InferenceError, match="unknown --degradation"):
        upscale_frames(model, _clip(), degradation="jpeg")
    with pytest.raises(InferenceError, match="uint8"):
        upscale_frames(model, _clip().astype(np.float32))
    with pytest.raises(InferenceError, match="needs --device cuda"):
        upscale_frames(model, _clip(), precision="fp16")
