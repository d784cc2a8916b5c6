"""Image quality metrics: PSNR and SSIM (RGB or BT.601 Y) and LPIPS.

- :func:`psnr`, :func:`ssim`: one pair of (H, W, 3) uint8 RGB frames, float64, as VSR papers.
- :func:`psnr_batch`, :func:`ssim_batch`: (B, 3, H, W) tensors in [0, 1], for training.
- :class:`LPIPS`: learned perceptual distance, batched, on any device.
"""

from vsr.metrics.batch import psnr_batch, ssim_batch
from vsr.metrics.color import rgb_to_y, rgb_to_y_tensor
from vsr.metrics.image import psnr, ssim
from vsr.metrics.perceptual import LPIPS, LPIPSWeightsMissing, default_backbone_path

__all__ = [
    "LPIPS",
    "LPIPSWeightsMissing",
    "default_backbone_path",
    "psnr",
    "psnr_batch",
    "rgb_to_y",
    "rgb_to_y_tensor",
    "ssim",
    "ssim_batch",
]
