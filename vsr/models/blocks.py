"""Residual blocks whose convolutions are chosen by ``trunk_conv``."""

from __future__ import annotations

import torch
from torch import nn

from vsr.nn import CondDynamicConv2d, DynamicConv2d, DynamicFilterConv2d
from vsr.nn._batched import init_kernel_bank_

#: The kinds of convolution the reconstruction trunk can use (the ``trunk_conv`` option).
TRUNK_CONVS: tuple[str, ...] = ("static", "dynamic_filter", "dynamic", "cond_dynamic")


class StaticConv2d(nn.Conv2d):
    """``nn.Conv2d`` with the adaptive layers' ``forward(x, cond=None)`` signature."""

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


def make_trunk_conv(
    kind: str,
    channels: int,
    *,
    num_experts: int = 4,
    cond_dim: int = 64,
    routing_content: bool = False,
) -> nn.Module:
    """A 3x3, size-preserving ``channels -> channels`` convolution of the given kind.

    Args:
        kind: one of :data:`TRUNK_CONVS`.
        channels: input and output channels.
        num_experts: kernels per bank (``dynamic``, ``cond_dynamic``).
        cond_dim: size of the condition vector (``cond_dynamic``).
        routing_content: ``cond_dynamic`` also routes on ``GAP(x)``.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    if kind == "static":
        return StaticConv2d(channels, channels, 3, 1, 1)
    if kind == "dynamic_filter":
        return DynamicFilterConv2d(channels, channels, 3)
    if kind == "dynamic":
        return DynamicConv2d(channels, channels, 3, num_experts=num_experts)
    if kind == "cond_dynamic":
        return CondDynamicConv2d(
            channels,
            channels,
            3,
            cond_dim=cond_dim,
            num_experts=num_experts,
            use_content=routing_content,
        )
    raise ValueError(f"unknown trunk_conv {kind!r}: expected one of {', '.join(TRUNK_CONVS)}")


class ResidualBlock(nn.Module):
    """``x + conv2(relu(conv1(x, cond)), cond)``, no batch norm (EDSR/EDVR style).

    Convolution weights start at Kaiming-normal times 0.1 so every block starts close to the
    identity, which is what lets deep trunks (EDVR-L: 40 blocks) train without BN.
    Parameter names (``conv1``, ``conv2``) follow BasicSR's ``ResidualBlockNoBN``.

    Shapes:
        forward(x ``(B, C, H, W)``, cond ``(B, D)`` or None) -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, conv: str = "static", **conv_kwargs) -> None:
        super().__init__()
        self.conv1 = make_trunk_conv(conv, channels, **conv_kwargs)
        self.conv2 = make_trunk_conv(conv, channels, **conv_kwargs)
        self.relu = nn.ReLU(inplace=True)
        for c in (self.conv1, self.conv2):
            init_kernel_bank_(c.weight, scale=0.1)
            if c.bias is not None:
                nn.init.zeros_(c.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x, cond)), cond)
