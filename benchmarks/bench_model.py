"""What adaptivity costs, and what our deformable operator saves, on the CPU.

For each preset (``tiny``, ``m``) and each ``trunk_conv`` it prints parameters, multiply-adds
and forward milliseconds per output frame at a 180x320 input (x4; every model built with
``scales=(4,)`` so only the trunk differs), next to the static baseline (ratios), then
EDVR-M per output frame of a video as BasicSR runs it (``torchvision.ops.deform_conv2d``,
every window through the whole network) against ``vsr-upscale``'s execution (our operator,
channels-last, per-frame features computed once per frame), with the rows in between that
separate the two (see :func:`compare_with_torchvision`). Target: ours at least 2x faster.

Multiply-adds are counted with ``torch.utils.flop_counter.FlopCounterMode``, with the formula
the operator registers (``vsr/ops/deform_conv.py``): a deformable convolution counts as its
ordinary-convolution equivalent plus the bilinear samples that fill its columns.

``--breakdown`` prints instead where each preset's multiply-adds go, part by part (the
network's top-level modules), for one output frame as ``vsr-upscale`` computes it: each
frame's features once (reused by the windows it is in), the rest once per window.

Usage (from the repository root)::

    python benchmarks/bench_model.py                     # full run (minutes)
    python benchmarks/bench_model.py --presets tiny --height 64 --width 64 --repeats 1
    python benchmarks/bench_model.py --breakdown         # seconds
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import vsr.ops.modules  # noqa: E402
from vsr.inference import ModelProcessor  # noqa: E402
from vsr.models import TRUNK_CONVS, build_edvr  # noqa: E402


def count_macs(model: torch.nn.Module, frames: torch.Tensor, scale: int) -> int:
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(frames, scale=scale)
    return counter.get_total_flops() // 2


def macs_by_part(model: torch.nn.Module, frames: torch.Tensor, scale: int) -> dict[str, int]:
    """Multiply-adds of one output frame per top-level part of the network, with the
    per-frame features counted once (``vsr-upscale`` reuses them in every window)."""
    centre = frames[:, frames.shape[1] // 2]
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model.extract_features(centre)
        parts = {"per-frame features": counter.get_total_flops() // 2}
        features = model.extract_features(frames.flatten(0, 1))
        with FlopCounterMode(display=False) as counter:
            model.restore(features, centre, scale)
    window = counter.get_total_flops() // 2
    # Top-level entries are named by module class; "Global" is the whole call.
    for name, counts in counter.get_flop_counts().items():
        if name != "Global" and "." not in name:
            parts[name] = sum(counts.values()) // 2
    parts["other"] = window - sum(v for k, v in parts.items() if k != "per-frame features")
    return parts


def print_breakdown(presets: list[str], height: int, width: int, scale: int) -> None:
    for preset in presets:
        torch.manual_seed(0)
        model = build_edvr(preset, scales=(scale,)).eval()
        frames = torch.rand(1, model.num_frames, 3, height, width)
        parts = macs_by_part(model, frames, scale)
        total = sum(parts.values())
        print(f"\n{preset} ({model.config['trunk_conv']} trunk): {total / 1e9:.1f} GMACs per "
              f"{width * scale}x{height * scale} output frame")
        for name, macs in sorted(parts.items(), key=lambda item: -item[1]):
            if macs:
                print(f"  {name:<22}{macs / 1e9:>8.2f} GMACs {100 * macs / total:>6.1f} %")


def time_forward(model: torch.nn.Module, frames: torch.Tensor, scale: int, repeats: int) -> float:
    """Median seconds of one forward (after one warm-up)."""
    times = []
    with torch.inference_mode():
        model(frames, scale=scale)
        for _ in range(repeats):
            start = time.perf_counter()
            model(frames, scale=scale)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="*", default=["tiny", "m"])
    parser.add_argument("--trunk-convs", nargs="+", default=list(TRUNK_CONVS))
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--skip-torchvision", action="store_true")
    parser.add_argument(
        "--compare", default="m:static", metavar="PRESET:TRUNK",
        help="network of the BasicSR-style vs vsr-upscale comparison (default EDVR-M, m:static)",
    )
    parser.add_argument("--breakdown", action="store_true",
                        help="print where each preset's multiply-adds go, part by part, and exit")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.breakdown:
        print_breakdown(args.presets, args.height, args.width, args.scale)
        return
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, input "
        f"{args.height}x{args.width}, x{args.scale}, {args.repeats} timed runs (median)"
    )

    header = f"{'model':<22}{'params':>10}{'GMACs':>10}{'ms/frame':>11}{'x params':>10}"
    header += f"{'x MACs':>8}{'x time':>8}"
    for preset in args.presets:
        print("\n" + header)
        baseline = None
        kinds = ["static"] + [k for k in args.trunk_convs if k != "static"]
        for kind in kinds:
            torch.manual_seed(0)
            model = build_edvr(preset, trunk_conv=kind, scales=(args.scale,)).eval()
            frames = torch.rand(1, model.num_frames, 3, args.height, args.width)
            params = sum(p.numel() for p in model.parameters())
            macs = count_macs(model, frames, args.scale)
            ms = 1000 * time_forward(model, frames, args.scale, args.repeats)
            baseline = baseline or (params, macs, ms)
            print(
                f"{preset + ' ' + kind:<22}{params / 1e6:>9.2f}M{macs / 1e9:>10.1f}{ms:>11.0f}"
                f"{params / baseline[0]:>10.2f}{macs / baseline[1]:>8.2f}{ms / baseline[2]:>8.2f}"
            )

    if not args.skip_torchvision:
        preset, trunk_conv = args.compare.split(":")
        compare_with_torchvision(
            preset, trunk_conv, args.height, args.width, args.scale, args.repeats
        )


VSR_UPSCALE = "vsr-upscale: vsr op, channels-last, per-frame features reused"


@contextmanager
def torchvision_operator():
    """Make every DCNv2Pack call ``torchvision.ops.deform_conv2d`` (the same weights)."""
    original = vsr.ops.modules.deform_conv2d
    vsr.ops.modules.deform_conv2d = torchvision.ops.deform_conv2d
    try:
        yield
    finally:
        vsr.ops.modules.deform_conv2d = original


def compare_with_torchvision(
    preset: str, trunk_conv: str, height: int, width: int, scale: int, rounds: int
) -> None:
    """An EDVR per output frame of a video: as BasicSR runs it, and as ``vsr-upscale`` does.

    BasicSR runs every window through the whole network, NCHW, with torchvision's operator.
    ``vsr-upscale`` (:class:`vsr.inference.ModelProcessor`) uses our operator, channels-last
    weights and computes the per-frame features once per frame. The rows in between
    separate the two: our operator alone, and torchvision's operator in vsr's execution.
    The stream slides one frame per round and the four runs alternate within each round,
    so the reuse rows are timed in steady state (one new frame per window) and every row
    sees the same machine state; medians over ``rounds``.
    """
    torch.manual_seed(0)
    model = build_edvr(preset, trunk_conv=trunk_conv, scales=(scale,)).eval()
    t = model.num_frames
    clip = (torch.rand(rounds + t, height, width, 3) * 255).to(torch.uint8).numpy()
    windows = np.stack([clip[i : i + t] for i in range(rounds + 1)])  # (windows, T, H, W, 3)

    def per_window(net):
        def run(batch):  # (1, T, H, W, 3) uint8, as ModelProcessor takes it
            x = torch.from_numpy(batch).permute(0, 1, 4, 2, 3).float().div(255)
            return net(x, scale=scale)
        return run

    def tv(run):
        def wrapped(batch):
            with torchvision_operator():
                return run(batch)
        return wrapped

    rows = {
        "BasicSR-style: torchvision op, NCHW, whole network per window": tv(per_window(model)),
        "vsr op, otherwise the same (the operator alone)": per_window(model),
        VSR_UPSCALE: ModelProcessor(copy.deepcopy(model), scale),
        "torchvision op in vsr-upscale's execution": tv(
            ModelProcessor(copy.deepcopy(model), scale)
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in rows}
    with torch.inference_mode():
        for i in range(rounds + 1):  # window 0 warms up (and fills the reuse caches)
            for name, run in rows.items():
                start = time.perf_counter()
                run(windows[i : i + 1])
                if i:
                    times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(v) for name, v in times.items()}
    baseline = next(iter(medians.values()))
    print(
        f"\nEDVR {preset} {trunk_conv}, x{scale}, {height}x{width}, ms per output frame "
        f"(median of {rounds})"
    )
    for name, seconds in medians.items():
        print(f"  {name:<66}{1000 * seconds:>8.0f}{baseline / seconds:>7.2f}x")
    best = medians[VSR_UPSCALE]
    print(f"vsr-upscale is {baseline / best:.2f}x faster than BasicSR-style (target >= 2x)")


if __name__ == "__main__":
    main()
