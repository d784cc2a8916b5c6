"""Plot the routing weights of a conditional dynamic trunk per scale and degradation (PNG).

Each row is a condition (scale, degradation), each block of columns one kernel-bank layer of
the reconstruction trunk, each cell the softmax weight of one expert (dark 0, bright 1).
A trained ``cond_dynamic`` model shows which experts serve which scale and degradation.
With content-aware routing (``routing_content``) the weights also depend on the frames, so
pass real frames with --frames; otherwise they do not, and random frames are used.

Usage::

    python scripts/plot_routing.py --checkpoint model.pt --out routing.png
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from vsr.models import EDVR, build_edvr, routing_table  # noqa: E402
from vsr.video.png import save_png  # noqa: E402

CELL = 18  # pixels per expert cell
LABEL_W = 130  # width of the row labels
HEADER_H = 44  # title and layer numbers


def load_model(checkpoint: Path | None, preset: str, trunk_conv: str) -> EDVR:
    """The model of --checkpoint, else an untrained preset (with a warning)."""
    if checkpoint is not None:
        from vsr.inference import load_model as load_exported

        return load_exported(checkpoint)
    warnings.warn(
        f"no checkpoint given: an untrained {preset!r} EDVR routes at random; pass "
        "--checkpoint for a meaningful picture",
        stacklevel=2,
    )
    torch.manual_seed(0)
    return build_edvr(preset, trunk_conv=trunk_conv).eval()


def read_frames(folder: Path, count: int) -> torch.Tensor:
    """The first ``count`` images of ``folder`` (natural order) as ``(1, T, 3, H, W)``."""
    from vsr.video.files import list_images, read_images

    files = list_images(folder)
    if len(files) < count:
        raise ValueError(f"{folder} has {len(files)} images, {count} are needed")
    arr = read_images(files[:count]).astype(np.float32) / 255
    return torch.from_numpy(arr).permute(0, 3, 1, 2)[None]


def render(rows: list[tuple[int, str]], layers: list[str], weights: torch.Tensor, title: str):
    """Heatmap of ``weights`` ``(rows, layers, M)`` with labels, as RGB uint8."""
    n_rows, n_layers, m = weights.shape
    gap = 4
    width = LABEL_W + n_layers * (m * CELL + gap)
    img = np.full((HEADER_H + n_rows * CELL + 4, width, 3), 255, np.uint8)
    values = (weights.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    colours = cv2.applyColorMap(values.reshape(-1, 1), cv2.COLORMAP_VIRIDIS)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).reshape(n_rows, n_layers, m, 3)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (4, 16), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for li in range(n_layers):
        x0 = LABEL_W + li * (m * CELL + gap)
        cv2.putText(img, str(li), (x0 + 2, HEADER_H - 6), font, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        for r in range(n_rows):
            y0 = HEADER_H + r * CELL
            for e in range(m):
                colour = tuple(int(c) for c in colours[r, li, e])
                cv2.rectangle(
                    img, (x0 + e * CELL, y0), (x0 + (e + 1) * CELL - 2, y0 + CELL - 2), colour, -1
                )
    for r, (s, d) in enumerate(rows):
        y = HEADER_H + r * CELL + CELL - 5
        cv2.putText(img, f"x{s} {d}", (4, y), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="exported vsr-edvr .pt checkpoint")
    parser.add_argument("--preset", default="tiny", help="untrained preset without checkpoint")
    parser.add_argument("--trunk-conv", default="cond_dynamic", help="for the untrained preset")
    parser.add_argument("--frames", type=Path, help="folder of frames (content-aware routing)")
    parser.add_argument("--strength", type=float, default=None, help="degradation strength")
    parser.add_argument("--out", type=Path, default=Path("routing.png"))
    args = parser.parse_args(argv)

    model = load_model(args.checkpoint, args.preset, args.trunk_conv)
    if args.frames is not None:
        frames = read_frames(args.frames, model.num_frames)
    else:
        frames = torch.rand(
            1, model.num_frames, 3, 32, 32, generator=torch.Generator().manual_seed(0)
        )
    rows, layers, weights = routing_table(model, frames, strength=args.strength)
    title = (
        f"routing weights: {len(layers)} {model.trunk_conv} layers x "
        f"{weights.shape[-1]} experts (columns), per condition (rows)"
    )
    image = render(rows, layers, weights, title)
    save_png(args.out, image)  # atomic: no partial file on failure
    print(f"wrote {args.out} ({len(rows)} conditions, {len(layers)} layers)")
    return args.out


if __name__ == "__main__":
    main()
