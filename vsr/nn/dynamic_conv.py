"""Kernel-bank convolutions: M expert kernels mixed per sample by an attention (routing).

``DynamicConv2d`` routes on the content (``GAP(x)``), ``CondDynamicConv2d`` on the
restoration condition (scale, degradation) and optionally the content as well. Mixing costs
``M*|K|`` multiply-adds per sample; the convolution itself costs one static convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from vsr.nn._batched import AdaptiveConvBase, init_kernel_bank_, mix_experts


class KernelBankConv2d(AdaptiveConvBase):
    """M kernels ``weight`` ``(M, O, C, kh, kw)`` and biases ``bias`` ``(M, O)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        padding: int | None,
        dilation: int,
        bias: bool,
        num_experts: int,
        temperature: float,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation)
        if num_experts < 1:
            raise ValueError(f"num_experts must be >= 1, got {num_experts}")
        self.num_experts = num_experts
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(num_experts, out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.zeros(num_experts, out_channels)) if bias else None
        init_kernel_bank_(self.weight)
        self.temperature = 1.0
        self.set_temperature(temperature)

    def set_temperature(self, t: float) -> None:
        """Set the softmax temperature T (annealed from high to 1 by a training callback).

        A high T flattens the routing so every expert receives gradient early in training.
        """
        if t <= 0:
            raise ValueError(f"temperature must be > 0, got {t}")
        self.temperature = float(t)

    def routing_logits(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Routing logits ``(B, M)`` for ``x`` and ``cond`` (before temperature and softmax)."""
        raise NotImplementedError

    def routing(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Routing weights ``(B, M)`` the forward pass mixes its kernels with.

        Also what introspection records (forward hooks call it on the layer's inputs), so
        the forward pass itself stores nothing.
        """
        return torch.softmax(self.routing_logits(x, cond) / self.temperature, dim=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        weight, bias = mix_experts(self.routing(x, cond), self.weight, self.bias)
        return self._conv(x, weight, bias)

    def extra_repr(self) -> str:
        return (
            super().extra_repr()
            + f", num_experts={self.num_experts}, temperature={self.temperature}"
        )


class DynamicConv2d(KernelBankConv2d):
    """Dynamic convolution: ``K_b = sum_m softmax(h(GAP(x_b)) / T)_m W_m``.

    With ``num_experts=1`` the softmax is 1 and the layer equals ``nn.Conv2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, bias: as
            ``nn.Conv2d`` (``padding=None`` keeps the spatial size).
        num_experts: M, kernels in the bank.
        reduction: hidden width of the attention MLP is ``max(in_channels // reduction, 4)``.
        temperature: initial softmax temperature (see :meth:`set_temperature`).

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
        num_experts: int = 4,
        reduction: int = 4,
        temperature: float = 1.0,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            bias,
            num_experts,
            temperature,
        )
        hidden = max(in_channels // reduction, 4)
        self.attention = nn.Sequential(
            nn.Linear(in_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_experts)
        )

    def routing_logits(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Logits from the content ``GAP(x)``; ``cond`` is accepted for interface parity."""
        return self.attention(x.mean(dim=(2, 3)))


class CondDynamicConv2d(KernelBankConv2d):
    """Conditional dynamic convolution: a kernel bank routed by the condition embedding.

    ``logits = r(cond) [+ h(GAP(x)) if use_content]``, ``alpha = softmax(logits / T)``,
    ``K_b = sum_m alpha_bm W_m``. The condition is the output of
    :class:`vsr.nn.ConditionEmbedding` (scale, degradation, strength), so one set of weights
    holds specialised kernels per scale and degradation. ``num_experts=1`` is ``nn.Conv2d``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, bias: as
            ``nn.Conv2d`` (``padding=None`` keeps the spatial size).
        cond_dim: size of the condition vector.
        num_experts: M, kernels in the bank.
        use_content: also route on the content ``GAP(x)`` (added to the condition logits).
        temperature: initial softmax temperature (see :meth:`set_temperature`).

    Shapes:
        forward(x ``(B, C, H, W)``, cond ``(B, cond_dim)``) -> ``(B, O, H', W')``.
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
        cond_dim: int = 64,
        num_experts: int = 4,
        use_content: bool = False,
        temperature: float = 1.0,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            bias,
            num_experts,
            temperature,
        )
        self.cond_dim = cond_dim
        self.router = nn.Linear(cond_dim, num_experts)
        self.content_router = nn.Linear(in_channels, num_experts) if use_content else None

    def routing_logits(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Routing logits ``(B, M)`` (before temperature and softmax)."""
        if cond is None:
            raise ValueError(
                "CondDynamicConv2d needs a condition vector: pass cond=ConditionEmbedding(...)"
                "(scale, degradation)"
            )
        if cond.dim() != 2 or cond.shape != (x.shape[0], self.cond_dim):
            raise ValueError(
                f"cond must have shape (B={x.shape[0]}, cond_dim={self.cond_dim}), "
                f"got {tuple(cond.shape)}"
            )
        logits = self.router(cond)
        if self.content_router is not None:
            logits = logits + self.content_router(x.mean(dim=(2, 3)))
        return logits

    def extra_repr(self) -> str:
        return (
            super().extra_repr()
            + f", cond_dim={self.cond_dim}, content={self.content_router is not None}"
        )
