"""Tiled inference: run a network on overlapping tiles and keep only each tile's core.

Each output tile is cropped from a network run on the tile plus ``overlap`` pixels of real
context on every side, so as long as the overlap covers the network's receptive field the
result equals the untiled one; there are no seams to blend because no output pixel ever
comes from near a tile edge (except at the frame border, where untiled has the same edge).

Tiles may be rectangles: :func:`plan_tile` prefers full-width strips, whose context costs
only ``2 * overlap`` extra rows, where a square tile of the same area pays on four sides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

#: Tile origins stay on a grid of this many pixels: EDVR's feature pyramid downsamples
#: twice by 2, and a tile starting off that grid would see differently strided features.
GRID = 4

TileSize = tuple[int, int]  # (height, width) of a tile's core, input pixels


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class Tile:
    """One tile: the ``core`` it produces and the ``context`` the network sees.

    Both are ``(y0, y1, x0, x1)`` in input pixels; the core lies inside the context.
    """

    core: tuple[int, int, int, int]
    context: tuple[int, int, int, int]


def as_tile_size(tile: int | TileSize | None) -> TileSize | None:
    """``N`` -> ``(N, N)``; ``None`` or ``0`` -> None (untiled)."""
    if tile is None or tile == 0:
        return None
    size = (tile, tile) if isinstance(tile, int) else tuple(tile)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"tile must be a positive size or (height, width), got {tile}")
    return size


def needs_tiling(tile: int | TileSize | None, height: int, width: int) -> bool:
    """Whether ``tile`` splits a ``height`` x ``width`` frame into more than one tile."""
    size = as_tile_size(tile)
    return size is not None and (size[0] < height or size[1] < width)


def tile_grid(height: int, width: int, tile: int | TileSize, overlap: int) -> list[Tile]:
    """The tiles covering a ``height`` x ``width`` frame, row by row.

    ``tile`` and ``overlap`` are rounded up to multiples of :data:`GRID`, so every context
    starts on the grid.
    """
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    tile_h, tile_w = (_round_up(t, GRID) for t in as_tile_size(tile))
    overlap = _round_up(overlap, GRID)
    tiles = []
    for y0 in range(0, height, tile_h):
        for x0 in range(0, width, tile_w):
            y1, x1 = min(y0 + tile_h, height), min(x0 + tile_w, width)
            context = (
                max(y0 - overlap, 0), min(y1 + overlap, height),
                max(x0 - overlap, 0), min(x1 + overlap, width),
            )
            tiles.append(Tile((y0, y1, x0, x1), context))
    return tiles


def tiled_forward(
    fn: Callable[[torch.Tensor], torch.Tensor],
    frames: torch.Tensor,
    scale: int,
    tile: int | TileSize | None,
    overlap: int = 16,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Apply ``fn`` to ``frames`` tile by tile.

    Args:
        fn: maps ``(B, T, C, h, w)`` to ``(B, C, scale*h, scale*w)``.
        frames: ``(B, T, C, H, W)``.
        scale: upscaling factor of ``fn``.
        tile: core tile size in input pixels, ``N`` or ``(height, width)`` (rounded up to
            multiples of 4); None or a tile covering the frame runs ``fn`` once.
        overlap: context on each side of a tile, in input pixels (rounded up to a
            multiple of 4); should cover the receptive field.
        out: optional ``(B, C, scale*H, scale*W)`` buffer to write into (reused across
            calls by a video pipeline instead of a fresh frame-sized allocation per frame).

    Returns:
        ``(B, C, scale*H, scale*W)``.
    """
    b, _, c, h, w = frames.shape
    if not needs_tiling(tile, h, w):
        return fn(frames)
    return assemble_tiles(
        lambda t: fn(frames[..., t.context[0] : t.context[1], t.context[2] : t.context[3]]),
        tile_grid(h, w, tile, overlap), (b, c, h, w), scale, out,
    )


def assemble_tiles(
    run: Callable[[Tile], torch.Tensor],
    tiles: list[Tile],
    shape: tuple[int, int, int, int],
    scale: int,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run ``run(tile)`` (the upscaled context of a tile) for every tile, keep the cores.

    ``shape`` is the untiled ``(B, C, H, W)`` in input pixels; the result is
    ``(B, C, scale*H, scale*W)``, in ``out`` when given.
    """
    b, c, h, w = shape
    for t in tiles:
        y0, y1, x0, x1 = t.core
        cy0, _, cx0, _ = t.context
        result = run(t)
        if out is None:
            out = result.new_empty(b, c, scale * h, scale * w)
        oy, ox = (y0 - cy0) * scale, (x0 - cx0) * scale
        out[..., scale * y0 : scale * y1, scale * x0 : scale * x1] = result[
            ..., oy : oy + scale * (y1 - y0), ox : ox + scale * (x1 - x0)
        ]
    return out


def work_ratio(height: int, width: int, tile: TileSize | None, overlap: int) -> float:
    """Pixels the network processes over the frame's pixels (1.0 untiled)."""
    if not needs_tiling(tile, height, width):
        return 1.0
    area = sum(
        (t.context[1] - t.context[0]) * (t.context[3] - t.context[2])
        for t in tile_grid(height, width, tile, overlap)
    )
    return area / (height * width)


def plan_tile(
    height: int, width: int, overlap: int, fits: Callable[[int, int], bool],
    min_tile: int = 16,
) -> TileSize | None:
    """The tile that wastes least work on context among those whose context ``fits``.

    Args:
        height, width: the frame, input pixels.
        overlap: context on each side of a tile.
        fits: ``fits(context_height, context_width)`` says whether one tile's run fits.
        min_tile: smallest core size considered.

    Returns:
        ``None`` when the whole frame fits (untiled), else ``(tile_height, tile_width)``:
        full-width strips when a strip of ``min_tile`` rows fits, narrower columns of
        strips otherwise.

    Raises:
        ValueError: not even a ``min_tile`` square fits.
    """
    if fits(height, width):
        return None
    overlap = _round_up(overlap, GRID)
    best: tuple[float, TileSize] | None = None
    for columns in range(1, _round_up(width, GRID) // GRID + 1):
        tile_w = _round_up(-(-width // columns), GRID)
        context_w = min(tile_w + 2 * overlap, width)
        if columns > 1 and (tile_w < min_tile or best and context_w / tile_w >= best[0]):
            break  # narrower columns can only waste more on context
        if not fits(min(min_tile + 2 * overlap, height), context_w):
            continue
        # The tallest strip of this width that fits: a binary search on the grid.
        lo, hi = _round_up(min_tile, GRID) // GRID, _round_up(height, GRID) // GRID
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(min(mid * GRID + 2 * overlap, height), context_w):
                lo = mid
            else:
                hi = mid - 1
        size = (lo * GRID, tile_w)
        ratio = work_ratio(height, width, size, overlap)
        if best is None or ratio < best[0]:
            best = (ratio, size)
    if best is None:
        raise ValueError(f"not even a {min_tile}x{min_tile} tile fits")
    return best[1]
