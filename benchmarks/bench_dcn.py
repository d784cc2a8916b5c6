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


def timed(fn: Callable[[], object], device: str, min_seconds: float, warmup: int) -> float:
    """Median milliseconds of ``fn`` over repeats filling at least ``min_seconds``."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start_all = time.perf_counter()
    while time.perf_counter() - start_all < min_seconds or len(times) < 3:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2]


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

    results = {}
    for name, fn in (("vsr", ours), ("torchvision", theirs), ("conv2d", conv)):
        with torch.no_grad():
            results[f"{name}_fwd"] = timed(fn, device, min_seconds, warmup=1)
        results[f"{name}_fwdbwd"] = timed(with_backward(fn), device, min_seconds, warmup=1)
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
