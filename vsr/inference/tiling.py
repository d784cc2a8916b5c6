"""Tiled inference: run a network on overlapping tiles and keep only each tile's core.

Each output tile is cropped from a network run on the tile plus ``overlap`` pixels of real
context on every side, so as long as the overlap covers the network's receptive field the
result equals the untiled one; there are no seams to blend because no output pixel ever
comes from near a tile edge (except at the frame border, where untiled has the same edge).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Tile origins stay on a grid of this many pixels: EDVR's feature pyramid downsamples
#: twice by 2, and a tile starting off that grid would see differently strided features.
GRID = 4


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def needs_tiling(tile: int | None, height: int, width: int) -> bool:
    """Whether ``tile`` splits a ``height`` x ``width`` frame into more than one tile."""
    return tile is not None and (tile < height or tile < width)


def tiled_forward(
    fn: Callable[[torch.Tensor], torch.Tensor],
    frames: torch.Tensor,
    scale: int,
    tile: int | None,
    overlap: int = 16,
) -> torch.Tensor:
    """Apply ``fn`` to ``frames`` tile by tile.

    Args:
        fn: maps ``(B, T, C, h, w)`` to ``(B, C, scale*h, scale*w)``.
        frames: ``(B, T, C, H, W)``.
        scale: upscaling factor of ``fn``.
        tile: core tile size in input pixels (rounded up to a multiple of 4); None or a
            tile covering the frame runs ``fn`` once.
        overlap: context on each side of a tile, in input pixels (rounded up to a
            multiple of 4); should cover the receptive field.

    Returns:
        ``(B, C, scale*H, scale*W)``.
    """
    b, _, c, h, w = frames.shape
    if not needs_tiling(tile, h, w):
        return fn(frames)
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    tile = _round_up(tile, GRID)
    overlap = _round_up(overlap, GRID)
    out = None
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            cy0, cx0 = max(y0 - overlap, 0), max(x0 - overlap, 0)
            cy1, cx1 = min(y1 + overlap, h), min(x1 + overlap, w)
            result = fn(frames[..., cy0:cy1, cx0:cx1])
            if out is None:
                out = result.new_empty(b, c, scale * h, scale * w)
            oy, ox = (y0 - cy0) * scale, (x0 - cx0) * scale
            out[..., scale * y0 : scale * y1, scale * x0 : scale * x1] = result[
                ..., oy : oy + scale * (y1 - y0), ox : ox + scale * (x1 - x0)
            ]
    return out
