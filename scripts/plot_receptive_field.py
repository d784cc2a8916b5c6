"""Draw where the deformable kernels sample in each neighbouring frame (dynamic receptive field).

For a chosen pixel of the centre frame, the finest-level PCD convolution
(``pcd_align.dcn_pack.l1``) samples every frame's features, which are at frame resolution,
at ``p + p_k + offset_k`` for each kernel tap ``k`` and deformable group. These points are
drawn over a zoomed crop of each frame: one colour per deformable group, the radius showing
the modulation mask, grey dots for the regular 3x3 grid. The cascaded DCN is not drawn: it
samples the already aligned features, not the frames.

Usage::

    python scripts/plot_receptive_field.py --checkpoint model.pt --pixel 90 160 \\
        --frames ../shared/data/lr_clips/reds_000_x4 --out receptive_field.png
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

from vsr.models import (  # noqa: E402
    EDVR,
    build_edvr,
    capture_offsets,
    load_basicsr_edvr,
    sampling_points,
)
from vsr.video.png import save_png  # noqa: E402

#: Real low-resolution frames beside the repository (a REDS clip), used when no --frames.
DEFAULT_FRAMES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "lr_clips"
DEFAULT_FRAMES = DEFAULT_FRAMES / "reds_000_x4"


def load_model(checkpoint: Path | None, basicsr: Path | None, preset: str) -> EDVR:
    """The model of --checkpoint / --basicsr, else an untrained preset (with a warning)."""
    if checkpoint is not None:
        from vsr.inference import load_model as load_exported

        return load_exported(checkpoint)
    if basicsr is not None:
        return load_basicsr_edvr(basicsr)
    warnings.warn(
        f"no checkpoint given: an untrained {preset!r} EDVR has zero offsets (a plain 3x3 "
        "grid); pass --checkpoint or --basicsr for a meaningful picture",
        stacklevel=2,
    )
    torch.manual_seed(0)
    return build_edvr(preset, trunk_conv="static").eval()


def read_frames(folder: Path, start: int, count: int) -> torch.Tensor:
    """``count`` consecutive images of ``folder`` (natural order) as ``(1, T, 3, H, W)``."""
    from vsr.video.files import list_images, read_images, require_dir

    files = list_images(require_dir(folder, "frame folder", "Pass --frames DIR."))
    if len(files) < start + count:
        raise ValueError(
            f"{folder} has {len(files)} images; frames {start}..{start + count - 1} are needed"
        )
    frames = read_images(files[start : start + count])
    arr = np.stack(frames).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2)[None]


def _panel(
    frame: np.ndarray, y: int, x: int, points: np.ndarray, mask: np.ndarray, window: int, zoom: int
) -> np.ndarray:
    """Zoomed crop of ``frame`` (H, W, 3 uint8) centred on (y, x) with the points drawn."""
    h, w = frame.shape[:2]
    y0 = int(np.clip(y - window // 2, 0, max(h - window, 0)))
    x0 = int(np.clip(x - window // 2, 0, max(w - window, 0)))
    crop = frame[y0 : y0 + window, x0 : x0 + window]
    img = cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST).copy()

    def to_px(py: float, px: float) -> tuple[int, int]:
        # Pixel centres sit at (i + 0.5) * zoom in the zoomed crop.
        return int(round((px - x0 + 0.5) * zoom)), int(round((py - y0 + 0.5) * zoom))

    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            cv2.circle(img, to_px(y + dy, x + dx), 2, (160, 160, 160), -1, cv2.LINE_AA)
    groups = points.shape[0]
    for g in range(groups):
        hue = np.uint8([[[int(180 * g / groups), 255, 255]]])
        colour = tuple(int(c) for c in cv2.cvtColor(hue, cv2.COLOR_HSV2RGB)[0, 0])
        for (py, px), m in zip(points[g], mask[g], strict=True):
            cv2.circle(img, to_px(py, px), 1 + int(round(5 * m)), colour, 1, cv2.LINE_AA)
    cx, cy = to_px(y, x)
    cv2.drawMarker(img, (cx, cy), (255, 255, 255), cv2.MARKER_CROSS, 2 * zoom, 1)
    return img


def render(
    frames: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    y: int,
    x: int,
    dcn,
    window: int = 24,
    zoom: int = 10,
) -> np.ndarray:
    """One panel per frame (centre included), side by side, with titles. RGB uint8.

    ``offset`` and ``mask`` are :func:`vsr.models.capture_offsets` of ``dcn`` on ``frames``.
    """
    t = frames.shape[1]
    panels = []
    for i in range(t):
        frame = (frames[0, i].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        points, weights = sampling_points(
            offset[i], mask[i], y, x, dcn.kernel_size[0], dcn.dilation[0], dcn.padding[0]
        )
        panel = _panel(frame, y, x, points, weights, window, zoom)
        title = np.zeros((28, panel.shape[1], 3), np.uint8)
        label = f"frame {i - t // 2:+d}" if i != t // 2 else "centre frame"
        cv2.putText(title, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        panels.append(np.vstack([title, panel]))
        panels.append(np.zeros((panel.shape[0] + 28, 4, 3), np.uint8))
    return np.hstack(panels[:-1])


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", type=Path, help="exported vsr-edvr .pt checkpoint")
    src.add_argument("--basicsr", type=Path, help="BasicSR EDVR .pth checkpoint")
    parser.add_argument("--preset", default="tiny", help="untrained preset without checkpoint")
    parser.add_argument("--frames", type=Path, default=DEFAULT_FRAMES, help="folder of images")
    parser.add_argument("--start", type=int, default=0, help="index of the first frame used")
    parser.add_argument("--pixel", type=int, nargs=2, metavar=("Y", "X"), help="default: centre")
    parser.add_argument("--window", type=int, default=24, help="crop size around the pixel")
    parser.add_argument("--zoom", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("receptive_field.png"))
    args = parser.parse_args(argv)

    model = load_model(args.checkpoint, args.basicsr, args.preset)
    frames = read_frames(args.frames, args.start, model.num_frames)
    h, w = frames.shape[-2:]
    y, x = args.pixel if args.pixel else (h // 2, w // 2)
    if not (0 <= y < h and 0 <= x < w):
        raise ValueError(f"--pixel {y} {x} is outside the {h}x{w} frames")
    offset, mask = capture_offsets(model, frames, "pcd_align.dcn_pack.l1")
    dcn = model.pcd_align.dcn_pack["l1"]
    image = render(frames, offset, mask, y, x, dcn, args.window, args.zoom)
    save_png(args.out, image)  # atomic: no partial file on failure
    print(f"wrote {args.out} (pixel y={y}, x={x}, {model.num_frames} frames)")
    return args.out


if __name__ == "__main__":
    main()
