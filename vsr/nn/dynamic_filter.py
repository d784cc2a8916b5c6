"""Dynamic filter convolution: each sample's kernel is generated from its global context."""

from __future__ import annotations

import torch
from torch import nn

from vsr.nn._batched import AdaptiveConvBase, init_kernel_bank_


class DynamicFilterConv2d(AdaptiveConvBase):
    """Convolution whose kernel is generated per sample by ``GAP(x) -> MLP``.

    Generating all ``O*C*k*k`` weights from an MLP would cost ~``hidden*O*C*k*k`` parameters
    per layer (0.6 M for a 64-channel 3x3 layer with 16 hidden units, more than the trunk
    itself), so the MLP generates a factorised (rank-1) modulation of a learned base kernel:

    ``K_b[o, c, i, j] = W[o, c, i, j] * (1 + a_b[o]) * (1 + g_b[c]) * (1 + s_b[i, j])``

    with ``(a_b, g_b, s_b) = MLP(GAP(x_b))``: per-output, per-input-channel and per-tap
    gains. The MLP's last layer starts at zero, so at initialisation (and always with
    ``generate=False``) the layer is exactly ``nn.Conv2d`` with weight ``W`` and bias.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation: as ``nn.Conv2d``
            (``padding=None`` keeps the spatial size).
        bias: learn a bias.
        reduction: hidden width of the MLP is ``max(in_channels // reduction, 4)``.
        generate: ``False`` switches generation off (a plain convolution).

    Shapes:
        forward(x ``(B, C, H, W)``, cond ignored) -> ``(B, O, H', W')``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = True,
        reduction: int = 4,
        generate: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation)
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        init_kernel_bank_(self.weight)
        self.generate = generate
        hidden = max(in_channels // reduction, 4)
        self._split = (out_channels, in_channels, kh * kw)
        self.generator = nn.Sequential(
            nn.Linear(in_channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, sum(self._split)),
        )
        nn.init.zeros_(self.generator[-1].weight)
        nn.init.zeros_(self.generator[-1].bias)

    def kernels(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample kernels ``(B, O, C, kh, kw)`` for input ``x`` ``(B, C, H, W)``."""
        b = x.shape[0]
        if not self.generate:
            return self.weight.expand(b, *self.weight.shape)
        gains = self.generator(x.mean(dim=(2, 3)))
        a, g, s = torch.split(gains, self._split, dim=1)
        kh, kw = self.kernel_size
        modulation = (
            (1 + a)[:, :, None, None, None]
            * (1 + g)[:, None, :, None, None]
            * (1 + s).reshape(b, 1, 1, kh, kw)
        )
        return self.weight[None] * modulation

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Convolve ``x`` ``(B, C, H, W)``; ``cond`` is accepted for interface parity, unused."""
        b = x.shape[0]
        bias = None if self.bias is None else self.bias.expand(b, -1)
        return self._conv(x, self.kernels(x), bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", generate={self.generate}"
