"""Embedding of the restoration condition: the requested scale and the input's degradation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vsr.conditions import DEGRADATIONS, SCALES, degradation_ids


class ConditionEmbedding(nn.Module):
    """Map (scale, degradation, optional strength) to a condition vector.

    ``e = MLP(E_scale[scale] + E_deg[degradation] + strength * V_deg[degradation])``.
    The strength term has one learned direction per degradation type, so "how strong"
    means something different for blur and for noise; a missing strength counts as 0, which
    is also what the data pipeline sends for degradations without a strength (bicubic).

    Args:
        dim: size of the condition vector.
        scales: the upscaling factors the network serves; any other scale is rejected.

    Shapes:
        forward(scale, degradation, strength) -> ``(B, dim)``.

    Example:
        >>> emb = ConditionEmbedding(dim=8)
        >>> emb(4, "blur", batch_size=2).shape
        torch.Size([2, 8])
    """

    def __init__(self, dim: int = 64, scales: Sequence[int] = SCALES) -> None:
        super().__init__()
        self.dim = dim
        self.scales = tuple(int(s) for s in scales)
        self.scale_embed = nn.Embedding(len(self.scales), dim)
        self.degradation_embed = nn.Embedding(len(DEGRADATIONS), dim)
        self.strength_embed = nn.Embedding(len(DEGRADATIONS), dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.LeakyReLU(0.1), nn.Linear(dim, dim))

    def scale_index(
        self,
        scale: int | Sequence[int] | torch.Tensor,
        batch_size: int,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Positions of ``scale`` in :attr:`scales` as a LongTensor ``(batch_size,)`` on
        ``device``.

        Raises:
            ValueError: if a scale is not one this embedding serves.
        """
        values = torch.as_tensor(scale, dtype=torch.long).reshape(-1).tolist()
        if len(values) == 1:
            values = values * batch_size
        if len(values) != batch_size:
            raise ValueError(f"got {len(values)} scales for a batch of {batch_size} samples")
        unknown = sorted({v for v in values if v not in self.scales})
        if unknown:
            raise ValueError(
                f"unknown scale {unknown[0]}: this model serves scales "
                f"{', '.join(str(s) for s in self.scales)}"
            )
        index = [self.scales.index(v) for v in values]
        if len(set(index)) == 1:  # filled on the device: no host-to-device copy
            return torch.full((batch_size,), index[0], dtype=torch.long, device=device)
        return torch.tensor(index, dtype=torch.long, device=device)

    def forward(
        self,
        scale: int | Sequence[int] | torch.Tensor,
        degradation: str | int | Sequence | torch.Tensor,
        strength: float | torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> torch.Tensor:
        """Embed one condition per sample.

        Args:
            scale: an int for the whole batch, or one per sample (sequence or LongTensor (B,)).
            degradation: a name or id for the whole batch, or one per sample (names, ids or
                LongTensor (B,) of ids from :data:`vsr.conditions.DEGRADATIONS`).
            strength: ``None`` (unknown, counts as 0), a float, or a FloatTensor ``(B,)`` in
                [0, 1].
            batch_size: B; inferred from per-sample arguments when omitted, else 1.

        Returns:
            Condition vectors, shape ``(B, dim)``.
        """
        if batch_size is None:
            batch_size = 1
            for arg in (degradation, scale, strength):
                if isinstance(arg, (torch.Tensor, list, tuple)) and len(arg) > 1:
                    batch_size = len(arg)
                    break
        device = self.scale_embed.weight.device
        deg = degradation_ids(degradation, batch_size, device=device)
        sc = self.scale_index(scale, batch_size, device)
        if strength is None:
            s = torch.zeros(batch_size, device=device)
        elif isinstance(strength, (int, float)):  # filled on the device: no copy
            s = torch.full((batch_size,), float(strength), device=device)
        else:
            s = torch.as_tensor(strength, dtype=torch.float32, device=device).reshape(-1)
            s = s.expand(batch_size) if s.numel() == 1 else s
            if s.shape[0] != batch_size:
                raise ValueError(f"got {s.shape[0]} strengths for a batch of {batch_size} samples")
        dtype = self.scale_embed.weight.dtype
        h = self.scale_embed(sc) + self.degradation_embed(deg)
        h = h + s.to(dtype)[:, None] * self.strength_embed(deg)
        return self.mlp(h)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, scales={self.scales}, degradations={DEGRADATIONS}"
