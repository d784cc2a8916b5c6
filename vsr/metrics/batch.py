"""PSNR and SSIM for batches of float tensors, for validation during training.

Same definitions as :mod:`vsr.metrics.image` (the numbers agree to float64 round-off for
the same pixels), but on (B, 3, H, W) tensors in [0, 1] on any device, one value per sample.
The prediction is not rounded to 8 bits first, so a validation PSNR can differ from the
``vsr-eval`` figure of the saved PNGs by the quantisation error (a few hundredths of a dB).
"""

from __future__ import annotations

import torch
from kornia.metrics import ssim as kornia_ssim

from vsr.metrics.color import rgb_to_y_tensor
from vsr.metrics.image import SSIM_WINDOW


def _prepare(
    pred: torch.Tensor, target: torch.Tensor, crop_border: int, y_channel: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes, crop, convert to Y; returns float64 (B, C, H, W) tensors."""
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    if pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) RGB tensors, got shape {tuple(pred.shape)}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    # float64 so that the result matches the numpy reference; the cost is negligible next
    # to a forward pass of the network.
    pred, target = pred.detach().double(), target.detach().double()
    if crop_border:
        if 2 * crop_border >= min(pred.shape[-2:]):
            raise ValueError(
                f"crop_border={crop_border} leaves nothing of {tuple(pred.shape[-2:])}"
            )
        pred = pred[..., crop_border:-crop_border, crop_border:-crop_border]
        target = target[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        return rgb_to_y_tensor(pred), rgb_to_y_tensor(target)
    return pred, target


def psnr_batch(
    pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0, y_channel: bool = False
) -> torch.Tensor:
    """PSNR in dB of each sample.

    Args:
        pred, target: (B, 3, H, W) float tensors in [0, 1].
        crop_border: pixels removed from each side first.
        y_channel: measure on BT.601 Y instead of RGB.

    Returns:
        (B,) float64 tensor; ``inf`` where a sample is identical to its target.
    """
    a, b = _prepare(pred, target, crop_border, y_channel)
    mse = ((a - b) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(1.0 / mse)


def ssim_batch(
    pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0, y_channel: bool = False
) -> torch.Tensor:
    """SSIM of each sample (Wang et al. Gaussian window, 'valid' filtering, channel mean).

    Args:
        pred, target: (B, 3, H, W) float tensors in [0, 1], at least 11x11 after cropping.
        crop_border: pixels removed from each side first.
        y_channel: measure on BT.601 Y instead of averaging R, G and B.

    Returns:
        (B,) float64 tensor.
    """
    a, b = _prepare(pred, target, crop_border, y_channel)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {tuple(a.shape[-2:])}"
        )
    # kornia's window is always the sigma-1.5 Gaussian of Wang et al. (SSIM_SIGMA);
    # max_val=1 scales C1 and C2 to the [0, 1] range, which leaves SSIM unchanged;
    # eps=0 drops kornia's extra denominator term so the value is the textbook one.
    ssim_map = kornia_ssim(a, b, SSIM_WINDOW, max_val=1.0, eps=0.0, padding="valid")
    # Every channel's map has the same size, so the mean over (C, H, W) is the mean of the
    # per-channel SSIMs, as in the numpy version.
    return ssim_map.mean(dim=(1, 2, 3))
