"""The batched tensor metrics equal the numpy ones sample by sample."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vsr.metrics import psnr, psnr_batch, rgb_to_y, rgb_to_y_tensor, ssim, ssim_batch


def _batch(seed: int = 0, b: int = 3, h: int = 24, w: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)
    # Increasing noise per sample, so the per-sample values differ.
    noise = rng.normal(0, 1, gt.shape) * np.linspace(4, 30, b)[:, None, None, None]
    pred = np.clip(gt + noise, 0, 255).astype(np.uint8)
    return pred, gt


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize(
    ("crop_border", "y_channel"), [(0, False), (0, True), (3, False), (2, True)]
)
def test_batch_equals_numpy(crop_border: int, y_channel: bool) -> None:
    pred, gt = _batch()
    p = psnr_batch(_tensor(pred), _tensor(gt), crop_border=crop_border, y_channel=y_channel)
    s = ssim_batch(_tensor(pred), _tensor(gt), crop_border=crop_border, y_channel=y_channel)
    assert p.shape == s.shape == (3,)
    for i in range(3):
        kw = {"crop_border": crop_border, "y_channel": y_channel}
        # float32 inputs hold k/255 to ~1e-8 relative, hence the tolerances.
        assert float(p[i]) == pytest.approx(psnr(pred[i], gt[i], **kw), abs=1e-5)
        assert float(s[i]) == pytest.approx(ssim(pred[i], gt[i], **kw), abs=1e-6)
    assert p[0] > p[1] > p[2]
    assert s[0] > s[1] > s[2]


def test_rgb_to_y_tensor_equals_numpy() -> None:
    pred, _ = _batch(1, b=2)
    y = rgb_to_y_tensor(_tensor(pred).double())
    for i in range(2):
        np.testing.assert_allclose(y[i, 0].numpy() * 255.0, rgb_to_y(pred[i]), atol=1e-9)


def test_batch_identical_and_shape_errors() -> None:
    x = torch.rand(2, 3, 16, 16)
    assert torch.isinf(psnr_batch(x, x)).all()
    torch.testing.assert_close(ssim_batch(x, x), torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="differ in shape"):
        psnr_batch(x, x[:1])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ssim_batch(x[:, :1], x[:, :1])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batch_on_cuda_equals_cpu() -> None:
    pred, gt = _batch(2)
    p, g = _tensor(pred), _tensor(gt)
    for y in (False, True):
        cpu_p, cpu_s = psnr_batch(p, g, y_channel=y), ssim_batch(p, g, y_channel=y)
        gpu_p = psnr_batch(p.cuda(), g.cuda(), y_channel=y)
        gpu_s = ssim_batch(p.cuda(), g.cuda(), y_channel=y)
        assert gpu_p.device.type == "cuda"
        torch.testing.assert_close(gpu_p.cpu(), cpu_p, atol=1e-9, rtol=0)
        torch.testing.assert_close(gpu_s.cpu(), cpu_s, atol=1e-9, rtol=0)
