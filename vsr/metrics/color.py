"""Luma (Y) of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes it (studio range 16-235).

VSR papers report Vid4 and Vimeo-90K-T numbers on this Y channel. We keep the result in
float64 without rounding to uint8 (the convention of the BasicSR/MMagic evaluation code,
which the published tables of EDVR, BasicVSR and later works use).
"""

from __future__ import annotations

import numpy as np
import torch

#: Weights of R, G, B for Y on inputs in [0, 255] (MATLAB rgb2ycbcr: 65.481/255 etc.).
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
#: Offset of the studio range: black maps to 16, white to 235.
_Y_OFFSET = 16.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y channel of an RGB image.

    Args:
        img: (H, W, 3) RGB array with values on the [0, 255] scale (uint8 or float).

    Returns:
        (H, W) float64 array in [16, 235].
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects an (H, W, 3) RGB array, got shape {img.shape}")
    rgb = img.astype(np.float64)
    return rgb @ np.asarray(_Y_WEIGHTS, dtype=np.float64) + _Y_OFFSET


def rgb_to_y_tensor(img: torch.Tensor) -> torch.Tensor:
    """Y channel of a batch of RGB images on the [0, 1] scale.

    Args:
        img: (B, 3, H, W) float tensor in [0, 1].

    Returns:
        (B, 1, H, W) tensor in [16/255, 235/255], same dtype as ``img``.
    """
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"rgb_to_y_tensor expects (B, 3, H, W), got shape {tuple(img.shape)}")
    weights = torch.tensor(_Y_WEIGHTS, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return (img * weights).sum(dim=1, keepdim=True) + _Y_OFFSET / 255.0
