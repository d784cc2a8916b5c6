"""Speed of vsr's deformable convolution against torchvision's and against plain conv2d.

Prints milliseconds for forward and forward+backward on EDVR's shapes (3x3 kernel, 8 offset
groups, with mask), and the ratios: torchvision / vsr (higher is better for us) and
vsr / conv2d (how far we are from the floor).

    python benchmarks/bench_dcn.py                 # CPU, all cores
    python benchmarks/bench_dcn.py --device cuda   # GPU, float32 and bfloat16
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torchvision

from vsr.ops import deform_conv2d

EDVR_SHAPES = [(1, 64, 64, 64), (4, 64, 64, 64), (1, 64, 180, 320)]
OFFSET_GROUPS = 8


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


def make_inputs(shape, device: str, dtype: torch.dtype):
    n, c, h, w = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, h, w, generator=g)
    weight = torch.randn(c, c, 3, 3, generator=g) * 0.05
    bias = torch.randn(c, generator=g)
    # Offsets of a few pixels, as a trained EDVR predicts.
    offset = torch.randn(n, 2 * OFFSET_GROUPS * 9, h, w, generator=g) * 2
    mask = torch.rand(n, OFFSET_GROUPS * 9, h, w, generator=g)
    tensors = [
        t.to(device=device, dtype=dtype).requires_grad_() for t in (x, weight, bias, offset, mask)
    ]
    return tensors


def bench_shape(shape, device: str, dtype: torch.dtype, min_seconds: float) -> dict[str, float]:
    x, weight, bias, offset, mask = make_inputs(shape, device, dtype)

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

    forwards = {"vsr": ours, "torchvision": theirs, "conv2d": conv}
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
    parser.add_argument("--dtype", default=None, help="float32 (default), bfloat16 or float16")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = (
        [args.dtype]
        if args.dtype
        else (["float32", "bfloat16"] if args.device == "cuda" else ["float32"])
    )

    print(f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__}")
    header = (
        f"{'shape (N,C,H,W)':<20}{'dtype':<10}{'pass':<9}{'vsr ms':>10}{'tv ms':>10}"
        f"{'conv ms':>10}{'tv/vsr':>9}{'vsr/conv':>10}"
    )
    print(header)
    for dtype_name in dtypes:
        dtype = getattr(torch, dtype_name)
        for shape in EDVR_SHAPES:
            try:
                r = bench_shape(shape, args.device, dtype, args.min_seconds)
            except RuntimeError as error:  # e.g. torchvision lacking a dtype on this device
                print(f"{str(shape):<20}{dtype_name:<10}skipped: {str(error).splitlines()[0]}")
                continue
            for kind, label in (("fwd", "forward"), ("fwdbwd", "fwd+bwd")):
                ours, theirs, floor = (
                    r[f"vsr_{kind}"],
                    r[f"torchvision_{kind}"],
                    r[f"conv2d_{kind}"],
                )
                print(
                    f"{str(shape):<20}{dtype_name:<10}{label:<9}{ours:>10.2f}{theirs:>10.2f}"
                    f"{floor:>10.2f}{theirs / ours:>8.1f}x{ours / floor:>9.1f}x"
                )


if __name__ == "__main__":
    main()
