"""Shared machinery of the adaptive convolutions: one grouped convolution for a whole batch.

Every adaptive layer ends with a different kernel per sample. Looping over the batch in
Python would serialise B small convolutions; instead the batch is folded into the channel
axis, ``(B, C, H, W) -> (1, B*C, H, W)``, the kernels are stacked to ``(B*O, C, k, k)`` and a
single ``conv2d`` with ``groups=B`` keeps the samples apart.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.utils import _pair


def batched_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> torch.Tensor:
    """Convolve every sample with its own kernel in one call.

    Args:
        x: input, shape ``(B, C, H, W)``.
        weight: per-sample kernels, shape ``(B, O, C, kh, kw)``.
        bias: per-sample biases, shape ``(B, O)``, or ``None``.
        stride, padding, dilation: as in :func:`torch.nn.functional.conv2d`.

    Returns:
        Output of shape ``(B, O, H', W')``.
    """
    b, c, h, w = x.shape
    if weight.dim() != 5 or weight.shape[0] != b or weight.shape[2] != c:
        raise ValueError(
            f"per-sample weight must have shape (B={b}, O, C={c}, kh, kw), "
            f"got {tuple(weight.shape)}"
        )
    out_channels = weight.shape[1]
    y = F.conv2d(
        x.reshape(1, b * c, h, w),
        weight.reshape(b * out_channels, c, *weight.shape[3:]),
        None if bias is None else bias.reshape(b * out_channels),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=b,
    )
    return y.reshape(b, out_channels, y.shape[-2], y.shape[-1])


def mix_experts(
    alpha: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-sample convex mix of a kernel bank: ``K_b = sum_m alpha[b, m] * W_m``.

    Args:
        alpha: mixing weights, shape ``(B, M)``.
        weight: kernel bank, shape ``(M, O, C, kh, kw)``.
        bias: bias bank, shape ``(M, O)``, or ``None``.

    Returns:
        Kernels ``(B, O, C, kh, kw)`` and biases ``(B, O)`` (or ``None``).
    """
    m = weight.shape[0]
    # One matmul of (B, M) x (M, O*C*k*k): the mix costs M*|K| multiply-adds per sample.
    mixed = (alpha @ weight.reshape(m, -1)).reshape(alpha.shape[0], *weight.shape[1:])
    return mixed, (None if bias is None else alpha @ bias)


def init_kernel_bank_(weight: torch.Tensor, scale: float = 1.0) -> None:
    """Kaiming-normal initialisation of a kernel or kernel bank, times ``scale``.

    The fan-in is ``C*kh*kw`` of one kernel, whatever the leading dimensions, so each expert
    starts like a freshly initialised convolution. ``scale=0.1`` is what residual blocks use
    (EDVR/EDSR) to keep the identity path dominant at the start of training.

    Args:
        weight: shape ``(..., O, C, kh, kw)``; modified in place.
        scale: multiplier applied after initialisation.
    """
    fan_in = math.prod(weight.shape[-3:])
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(2.0 / fan_in)).mul_(scale)


class AdaptiveConvBase(nn.Module):
    """Geometry shared by the adaptive convolutions (``forward(x, cond=None)`` interface)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        # "same" padding by default: the trunk keeps the spatial size.
        self.padding = _pair(dilation * (kernel_size - 1) // 2 if padding is None else padding)
        self.dilation = _pair(dilation)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        return batched_conv2d(x, weight, bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}"
        )
