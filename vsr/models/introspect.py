"""Looking inside a trained EDVR: where the deformable kernels sample, how the trunk routes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vsr.conditions import DEGRADATIONS
from vsr.models.edvr import EDVR


def capture_offsets(model: EDVR, frames: torch.Tensor, dcn: str = "pcd_align.dcn_pack.l1"):
    """Raw ``conv_offset`` output of one DCN of the alignment, for every frame.

    A forward hook records it while the model upscales ``frames``.

    Args:
        frames: ``(B, T, 3, H, W)``.
        dcn: module name of a :class:`vsr.ops.DCNv2Pack` inside ``model``.

    Returns:
        ``(B*T, 3*G*k*k, H', W')`` in (sample, frame) order; H', W' are padded to a multiple
        of 4 at the bottom/right, so pixel coordinates are those of the frames.
    """
    module = model.get_submodule(dcn).conv_offset
    captured: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda m, i, out: captured.append(out.detach()))
    try:
        with torch.inference_mode():
            # Alignment comes before the trunk and heads: the cheapest scale gives the same.
            model(frames, scale=model.scales[0])
    finally:
        hook.remove()
    return captured[0]


def sampling_points(
    raw: torch.Tensor,
    y: int,
    x: int,
    kernel_size: int = 3,
    dilation: int = 1,
    padding: int = 1,
    max_offset: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Where a modulated deformable convolution samples for output pixel ``(y, x)``.

    Args:
        raw: ``conv_offset`` output for one frame, ``(3*G*K, H, W)`` with K = k*k: the first
            ``2*G*K`` channels are offsets (``2(gK + k)`` is dy, ``2(gK + k) + 1`` dx, as in
            torchvision, taps row-major), the last ``G*K`` mask logits.
        y, x: output pixel (stride 1).
        kernel_size, dilation, padding: the DCN's geometry.
        max_offset: the DCN's bound, if any (``max_offset * tanh(raw / max_offset)``).

    Returns:
        points ``(G, K, 2)`` as (y, x) in input pixels, and mask ``(G, K)`` in [0, 1].
    """
    k2 = kernel_size * kernel_size
    groups = raw.shape[0] // (3 * k2)
    v = raw[:, y, x].double()
    offsets = v[: 2 * groups * k2].reshape(groups, k2, 2)
    if max_offset is not None:
        offsets = max_offset * torch.tanh(offsets / max_offset)
    mask = torch.sigmoid(v[2 * groups * k2 :]).reshape(groups, k2)
    taps = torch.arange(k2)
    rows = taps // kernel_size * dilation - padding + y
    cols = taps % kernel_size * dilation - padding + x
    grid = torch.stack([rows, cols], dim=1).double()
    return (grid[None] + offsets).numpy(), mask.numpy()


def routing_table(
    model: EDVR,
    frames: torch.Tensor,
    scales: Sequence[int] | None = None,
    degradations: Sequence[str] = DEGRADATIONS,
    strength: float | None = None,
) -> tuple[list[tuple[int, str]], list[str], torch.Tensor]:
    """Routing weights of every kernel-bank layer for each (scale, degradation).

    Args:
        frames: ``(1, T, 3, H, W)``; only matters when routing also looks at the content.
        scales: default all of ``model.scales``.

    Returns:
        conditions (row labels), layer names, and weights ``(conditions, layers, M)``
        (averaged over the batch).

    Raises:
        ValueError: if the model has no kernel-bank layers (static or dynamic-filter trunk).
    """
    rows: list[tuple[int, str]] = []
    tables = []
    names: list[str] = []
    for s in scales or model.scales:
        for d in degradations:
            with torch.inference_mode():
                model(frames, scale=s, degradation=d, strength=strength)
            routing = model.routing_weights()
            if not routing:
                raise ValueError(
                    f"this model's trunk ({model.trunk_conv!r}) has no routing: use a "
                    "'cond_dynamic' or 'dynamic' model"
                )
            names = list(routing)
            tables.append(torch.stack([routing[n].float().mean(0) for n in names]))
            rows.append((s, d))
    return rows, names, torch.stack(tables)
