"""nn.Modules around the deformable convolution operator."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from vsr.ops.deform_conv import deform_conv2d

__all__ = ["DeformConv2d", "DCNv2Pack"]


class DeformConv2d(nn.Module):
    """Deformable convolution whose offsets (and optional mask) come from the caller.

    Owns the weight and bias, like :class:`torchvision.ops.DeformConv2d`.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation: as nn.Conv2d.
        groups: weight groups.
        bias: whether to learn a bias.

    Shape:
        - input ``(N, C_in, H, W)``, offset ``(N, 2 * G_off * kh * kw, H_out, W_out)``,
          mask ``(N, G_off * kh * kw, H_out, W_out)`` or None; output ``(N, C_out, H_out, W_out)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                f"divisible by groups ({groups})"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, *self.kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The same initialisation as nn.Conv2d, so a zero-offset DCN starts as a plain conv.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor, offset: Tensor, mask: Tensor | None = None) -> Tensor:
        return deform_conv2d(
            input, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask
        )

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}"
        )
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class DCNv2Pack(DeformConv2d):
    """EDVR's modulated deformable convolution: offsets and mask predicted from a feature.

    ``conv_offset`` maps ``feat`` to ``3 * G_off * kh * kw`` channels: two thirds are the
    offsets, one third the mask logits (through a sigmoid). It is zero-initialised, so at the
    start every offset is 0 and every mask 0.5: the layer is a plain convolution scaled by 0.5
    and training begins from a stable, undeformed alignment. Parameter names follow BasicSR's
    DCNv2Pack (``weight``, ``bias``, ``conv_offset``) so its checkpoints load unchanged.

    The forward pass only computes (no host syncs, nothing stored on the module): monitoring,
    e.g. the mean |offset| that warns of a diverging alignment, belongs to forward hooks,
    which get the same offsets from :meth:`offsets_and_mask`.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups: as nn.Conv2d.
        deformable_groups: offset groups; each has its own offsets and mask.
        max_offset: if set, offsets are bounded to ``max_offset * tanh(raw / max_offset)``,
            a remedy for the offset blow-up that makes EDVR training diverge.
        offset_channels: channels of ``feat`` (defaults to ``in_channels``).

    Shape:
        - x ``(N, C_in, H, W)``, feat ``(N, offset_channels, H, W)``;
          output ``(N, C_out, H_out, W_out)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        deformable_groups: int = 8,
        max_offset: float | None = None,
        offset_channels: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias
        )
        if in_channels % deformable_groups:
            raise ValueError(
                f"in_channels ({in_channels}) must be divisible by deformable_groups "
                f"({deformable_groups})"
            )
        if max_offset is not None and max_offset <= 0:
            raise ValueError(f"max_offset must be positive or None: got {max_offset}")
        self.deformable_groups = deformable_groups
        self.max_offset = max_offset
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset = nn.Conv2d(
            offset_channels or in_channels,
            3 * deformable_groups * taps,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
        )
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def offsets_and_mask(self, feat: Tensor) -> tuple[Tensor, Tensor]:
        """The offsets (bounded by ``max_offset``, if set) and the mask this layer uses.

        Shapes:
            feat ``(N, offset_channels, H, W)`` -> offset ``(N, 2 * G_off * kh * kw, H_out,
            W_out)`` (``2(g*K + k)`` is tap k's dy, the next channel its dx) and mask
            ``(N, G_off * kh * kw, H_out, W_out)`` in (0, 1).
        """
        taps = self.deformable_groups * self.kernel_size[0] * self.kernel_size[1]
        # The first two thirds are offsets, the last third mask logits: the same split as
        # BasicSR's chunk-into-three-then-concatenate, so its weights mean the same here.
        # Both halves are views: the CPU kernel reads them in place, NCHW or channels-last.
        offset, mask_logits = self.conv_offset(feat).split([2 * taps, taps], dim=1)
        if self.max_offset is not None:
            offset = self.max_offset * torch.tanh(offset / self.max_offset)
        return offset, torch.sigmoid(mask_logits)

    def forward(self, x: Tensor, feat: Tensor) -> Tensor:  # type: ignore[override]
        offset, mask = self.offsets_and_mask(feat)
        return deform_conv2d(
            x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask
        )

    def extra_repr(self) -> str:
        text = super().extra_repr() + f", deformable_groups={self.deformable_groups}"
        return text + (f", max_offset={self.max_offset}" if self.max_offset is not None else "")
