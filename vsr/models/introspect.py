"""Looking inside an EDVR: how far and where the deformable kernels sample, how the trunk routes.

Offsets are read by forward hooks: the network computes nothing for monitoring itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from torch import nn

from vsr.conditions import DEGRADATIONS
from vsr.models.edvr import EDVR
from vsr.nn import KernelBankConv2d
from vsr.ops import DCNv2Pack


class OffsetRecorder:
    """Mean |offset| of every deformable convolution of a model, recorded by forward hooks.

    While :attr:`enabled`, a hook on each :class:`vsr.ops.DCNv2Pack` recomputes the offsets
    it used with :meth:`~vsr.ops.DCNv2Pack.offsets_and_mask` (the one definition of the
    split and the bound) and adds their L1 norm to a sum kept on the device, so recording
    costs no host sync; :meth:`magnitudes` reads every sum at once. Disabled, the hooks
    return at once, so a recorder can stay attached between the steps it records.

    Use it as a context manager, or call :meth:`remove` when done.

    Args:
        model: any module containing DCNv2Pack layers.
        enabled: record from the start.
    """

    def __init__(self, model: nn.Module, enabled: bool = True) -> None:
        self.enabled = enabled
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._handles = [
            module.register_forward_hook(partial(self._record, name), with_kwargs=True)
            for name, module in model.named_modules()
            if isinstance(module, DCNv2Pack)
        ]

    def _record(self, name: str, module: DCNv2Pack, args: tuple, kwargs: dict, out) -> None:
        if not self.enabled:
            return
        feat = kwargs["feat"] if "feat" in kwargs else args[1]
        with torch.no_grad():
            offset, _ = module.offsets_and_mask(feat)
            if not offset.numel():
                return
            l1 = torch.linalg.vector_norm(offset, ord=1, dtype=torch.float32)
        # Summed over calls: a forward that aligns frames in several passes counts them all.
        self._sums[name] = self._sums[name] + l1 if name in self._sums else l1
        self._counts[name] = self._counts.get(name, 0) + offset.numel()

    def magnitudes(self) -> dict[str, float]:
        """Mean |offset| (pixels) of each DCN over the forwards recorded since :meth:`reset`,
        by module name; one device-to-host copy for all of them."""
        names = list(self._sums)
        if not names:
            return {}
        means = torch.stack([self._sums[n] / self._counts[n] for n in names]).tolist()
        return dict(zip(names, means, strict=True))

    def reset(self) -> None:
        """Forget what was recorded."""
        self._sums.clear()
        self._counts.clear()

    def remove(self) -> None:
        """Detach the hooks from the model."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> OffsetRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def capture_offsets(
    model: EDVR, frames: torch.Tensor, dcn: str = "pcd_align.dcn_pack.l1"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets and mask of one DCN of the alignment, for every frame.

    A forward hook takes them from :meth:`vsr.ops.DCNv2Pack.offsets_and_mask` while the
    model upscales ``frames``.

    Args:
        frames: ``(B, T, 3, H, W)``.
        dcn: module name of a :class:`vsr.ops.DCNv2Pack` inside ``model``.

    Returns:
        offset ``(B*T, 2*G*k*k, H', W')`` (bounded, as the DCN uses them) and mask
        ``(B*T, G*k*k, H', W')``, in (sample, frame) order; H', W' are padded to a multiple
        of 4 at the bottom/right, so pixel coordinates are those of the frames.
    """
    module = model.get_submodule(dcn)
    captured: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(m: DCNv2Pack, args: tuple, out: torch.Tensor) -> None:
        captured.append(m.offsets_and_mask(args[1]))

    handle = module.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            # Alignment comes before the trunk and heads: the cheapest scale gives the same.
            model(frames, scale=model.scales[0])
    finally:
        handle.remove()
    return captured[0]


def sampling_points(
    offset: torch.Tensor,
    mask: torch.Tensor,
    y: int,
    x: int,
    kernel_size: int = 3,
    dilation: int = 1,
    padding: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Where a modulated deformable convolution samples for output pixel ``(y, x)``.

    Args:
        offset, mask: one frame's :meth:`vsr.ops.DCNv2Pack.offsets_and_mask`,
            ``(2*G*K, H, W)`` and ``(G*K, H, W)`` with K = k*k: channel ``2(gK + k)`` is
            tap k's dy, ``2(gK + k) + 1`` its dx (as in torchvision, taps row-major).
        y, x: output pixel (stride 1).
        kernel_size, dilation, padding: the DCN's geometry.

    Returns:
        points ``(G, K, 2)`` as (y, x) in input pixels, and mask ``(G, K)`` in [0, 1].
    """
    k2 = kernel_size * kernel_size
    groups = mask.shape[0] // k2
    offsets = offset[:, y, x].double().reshape(groups, k2, 2)
    taps = torch.arange(k2)
    rows = taps // kernel_size * dilation - padding + y
    cols = taps % kernel_size * dilation - padding + x
    grid = torch.stack([rows, cols], dim=1).double()
    return (grid[None] + offsets).numpy(), mask[:, y, x].double().reshape(groups, k2).numpy()


def _record_routing(layers: dict[str, KernelBankConv2d], into: dict[str, torch.Tensor]) -> list:
    """Forward hooks that put each layer's routing weights, computed from its inputs, into
    ``into`` by name (the forward pass itself stores nothing)."""

    def recorder(name: str):
        def record(module, args, kwargs, output) -> None:
            into[name] = module.routing(*args, **kwargs)

        return record

    return [layer.register_forward_hook(recorder(name), with_kwargs=True)
            for name, layer in layers.items()]


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
    layers = {name: m for name, m in model.named_modules() if isinstance(m, KernelBankConv2d)}
    for s in scales or model.scales:
        for d in degradations:
            routing: dict[str, torch.Tensor] = {}
            hooks = _record_routing(layers, routing)
            try:
                with torch.inference_mode():
                    model(frames, scale=s, degradation=d, strength=strength)
            finally:
                for hook in hooks:
                    hook.remove()
            if not routing:
                raise ValueError(
                    f"this model's trunk ({model.trunk_conv!r}) has no routing: use a "
                    "'cond_dynamic' or 'dynamic' model"
                )
            names = list(routing)
            tables.append(torch.stack([routing[n].float().mean(0) for n in names]))
            rows.append((s, d))
    return rows, names, torch.stack(tables)
