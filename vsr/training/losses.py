"""Pixel losses for restoration: Charbonnier (a smooth L1), L1 and MSE.

EDVR trains with the Charbonnier penalty ``sqrt((x - y)^2 + eps^2)``: it behaves like L1
for large errors (robust to outliers, sharper results than MSE) but is differentiable at
zero, so the gradient does not flip sign abruptly around a perfect pixel.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

LossMode = Literal["charbonnier", "l1", "mse"]


def charbonnier_loss(
    pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6, reduction: str = "mean"
) -> torch.Tensor:
    """Charbonnier penalty ``sqrt((pred - target)^2 + eps^2)``.

    Args:
        pred, target: tensors of the same shape, e.g. ``(B, 3, H, W)``.
        eps: smoothing constant (in the units of the pixels; 1e-6 for [0, 1] images as in
            EDVR, 1e-3 is also common).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        A scalar, or a tensor shaped like ``pred`` for ``reduction="none"``.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    loss = torch.sqrt((pred - target) ** 2 + eps * eps)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"unknown reduction {reduction!r}: expected 'mean', 'sum' or 'none'")


class PixelLoss(nn.Module):
    """A pixel loss chosen by name: ``charbonnier`` (default), ``l1`` or ``mse``.

    Args:
        mode: which penalty.
        eps: Charbonnier smoothing constant (ignored by ``l1`` and ``mse``).
        weight: multiplies the loss.

    Shape:
        pred, target: ``(B, 3, H, W)``; returns a scalar (mean over all elements).
    """

    def __init__(self, mode: LossMode = "charbonnier", eps: float = 1e-6, weight: float = 1.0):
        super().__init__()
        if mode not in ("charbonnier", "l1", "mse"):
            raise ValueError(f"unknown loss mode {mode!r}: expected charbonnier, l1 or mse")
        self.mode = mode
        self.eps = float(eps)
        self.weight = float(weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.mode == "charbonnier":
            loss = charbonnier_loss(pred, target, self.eps)
        elif self.mode == "l1":
            loss = F.l1_loss(pred, target)
        else:
            loss = F.mse_loss(pred, target)
        return self.weight * loss

    def extra_repr(self) -> str:
        eps = f", eps={self.eps}" if self.mode == "charbonnier" else ""
        return f"mode={self.mode!r}{eps}, weight={self.weight}"
