"""Speed of vsr's deformable convolution against torchvision's and against plain conv2d.

Prints milliseconds for forward and forward+backward on EDVR's shapes (3x3 kernel, with mask:
EDVR-M's 64 channels in 8 offset groups, and the shipped tiny model's 32 channels in 4), and
the ratios: torchvision / vsr (higher is better for us) and vsr / conv2d (how far we are from
the floor). bfloat16 is what vsr-upscale runs on CPUs with bf16 units; torchvision has no CPU
bf16 kernel, so those rows compare with conv2d only.

    python benchmarks/bench_dcn.py                 # CPU, all cores
    python benchmarks/bench_dcn.py --device cuda   # GPU
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision

from vsr.ops import deform_conv2d

# ((N, C, H, W), offset groups)
EDVR_SHAPES = [
    ((1, 64, 64, 64), 8),
    ((4, 64, 64, 64), 8),
    ((1, 64, 180, 320), 8),
    ((1, 32, 180, 320), 4),  # checkpoints/vsr_tiny.pt on a 320x180 input (1280x720 at x4)
    # Its first pyramid level in a training step: batch 8 x 5 frames, 120-pixel crops at x4
    # (30x30, padded to 32x32). Many small samples: the backward runs one sample per thread.
    ((40, 32, 32, 32), 4),
]


def timed_together(
    fns: dict[str, Callable[[], object]], device: str, min_seconds: float
) -> dict[str, float]:
    """Median milliseconds of each function, timed in alternation, one call each per round.

    Why alternate: this machine is a shared VM whose speed drifts by 2x or more within a minute.
    Timing each operator in its own block let the drift land on one of them and swing the
    ratios; in alternation every operator sees the same machine state, round by round.
    """

    def one_call(fn: Callable[[], object]) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1000

    for fn in fns.values():  # warm-up: first-call allocations, lazy initialisation
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    start_all = time.perf_counter()
    while time.perf_counter() - start_all < min_seconds or len(times[next(iter(fns))]) < 3:
        for name, fn in fns.items():
            times[name].append(one_call(fn))
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def make_inputs(shape, offset_groups: int, device: str, dtype: torch.dtype):
    n, c, h, w = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=g)
    weight = torch.randn(c, c, 3, 3, generator=g) * 0.05
    bias = torch.randn(c, generator=g)
    # Offsets of a few pixels, as a trained EDVR predicts.
    offset = torch.randn(n, 2 * offset_groups * 9, h, w, generator=g) * 2
    mask = torch.rand(n, offset_groups * 9, h, w, generator=g)
    tensors = [
        t.to(device=device, dtype=dtype).requires_grad_() for t in (x, weight, bias, offset, mask)
    ]
    return tensors


def torchvision_supports(device: str, dtype: torch.dtype) -> bool:
    """Whether torchvision's deform_conv2d has a kernel for this device and dtype."""
    x = torch.zeros(1, 1, 2, 2, device=device, dtype=dtype)
    try:
        torchvision.ops.deform_conv2d(x, torch.zeros(1, 2, 2, 2, device=device, dtype=dtype),
                                      torch.zeros(1, 1, 1, 1, device=device, dtype=dtype))
    except RuntimeError:
        return False
    return True


def bench_shape(shape, offset_groups: int, device: str, dtype: torch.dtype,
                min_seconds: float) -> dict[str, float]:
    x, weight, bias, offset, mask = make_inputs(shape, offset_groups, device, dtype)

    def ours():
        return deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)

    def theirs():
        return torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)

    def conv():
        return F.conv2d(x, weight, bias, padding=1)

    def with_backward(forward):
        def run():
            forward().sum().backward()

        return run

    forwards = {"vsr": ours, "conv2d": conv}
    if torchvision_supports(device, dtype):
        forwards["torchvision"] = theirs
    with torch.no_grad():
        fwd = timed_together(forwards, device, min_seconds)
    fwdbwd = timed_together(
        {name: with_backward(fn) for name, fn in forwards.items()}, device, min_seconds
    )
    results = {f"{name}_fwd": ms for name, ms in fwd.items()}
    results.update({f"{name}_fwdbwd": ms for name, ms in fwdbwd.items()})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default=None,
                        help="float32, bfloat16 or float16 (default: float32 and bfloat16)")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = [args.dtype] if args.dtype else ["float32", "bfloat16"]

    print(f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__}")
    header = (
        f"{'shape (N,C,H,W)':<20}{'groups':>7} {'dtype':<10}{'pass':<9}{'vsr ms':>10}{'tv ms':>10}"
        f"{'conv ms':>10}{'tv/vsr':>9}{'vsr/conv':>10}"
    )
    print(header)
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        for shape, groups in EDVR_SHAPES:
            try:
                r = bench_shape(shape, groups, args.device, dtype, args.min_seconds)
            except RuntimeError as error:  # e.g. out of memory on a small GPU
                print(f"{str(shape):<20}{groups:>7} {dtype_name:<10}skipped: "
                      f"{str(error).splitlines()[0]}")
                continue
            for kind, label in (("fwd", "forward"), ("fwdbwd", "fwd+bwd")):
                ours, floor = r[f"vsr_{kind}"], r[f"conv2d_{kind}"]
                theirs = r.get(f"torchvision_{kind}")
                tv_ms, tv_ratio = (
                    (f"{theirs:>10.2f}", f"{theirs / ours:>8.1f}x") if theirs else
                    (f"{'-':>10}", f"{'-':>9}")
                )
                print(
                    f"{str(shape):<20}{groups:>7} {dtype_name:<10}{label:<9}{ours:>10.2f}{tv_ms}"
                    f"{floor:>10.2f}{tv_ratio}{ours / floor:>9.1f}x"
                )


if __name__ == "__main__":
    main()
