"""Benchmark long-job modes of vsr-upscale: what segments cost, what several processes gain.

Three whole commands on the same real clip, one after the other in this run (this VM's
speed drifts between runs, so only ratios within one run mean anything):

- ``once``: ``--segment-frames 0``, one pass (no job folder, nothing to resume);
- ``segments``: ``--segment-frames N`` (resumable; each segment re-reads ``T//2`` frames of
  context on both sides, and the segments are joined at the end without re-encoding);
- ``torchrun``: ``torchrun --nproc-per-node P`` with the same segments, cores / P threads
  per process (the other runs use every core in one process);
- ``1 thread``: one process with the same segments and as many threads as one torchrun
  process: the peer that shows how well the segments are shared.

Prints wall seconds for each and the ratios ``segments / once`` (the overhead of being
resumable), ``segments / torchrun`` (what P processes gain over one on the same cores) and
``1 thread / torchrun`` (the speed-up of P processes over one of them alone).

Run: ``python benchmarks/bench_jobs.py`` (``--help`` for the clip, length and scale).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / ".." / "shared" / "data" / "videos"


def _timed(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{run.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", type=Path, default=VIDEOS / "ffpy_in.mp4")
    p.add_argument("--end", type=float, default=3.0, help="seconds of the clip to upscale")
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--segment-frames", type=int, default=30)
    p.add_argument("--nproc", type=int, default=2)
    args = p.parse_args()
    if not args.input.exists():
        sys.exit(f"{args.input} not found (../shared/data beside the repository)")
    script = [sys.executable, str(REPO / "scripts" / "upscale.py")]
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--nproc-per-node",
                str(args.nproc), "--no-python", *script]
    common = ["--scale", str(args.scale), "--end", str(args.end), "--quiet"]
    seg = ["--segment-frames", str(args.segment_frames)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        once = _timed([*script, str(args.input), str(out / "once.mp4"), *common,
                       "--segment-frames", "0"])
        segments = _timed([*script, str(args.input), str(out / "seg.mp4"), *common, *seg])
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, os.cpu_count() // args.nproc))}
        shared = _timed([*torchrun, str(args.input), str(out / "ranks.mp4"), *common, *seg],
                        env)
        alone = _timed([*script, str(args.input), str(out / "alone.mp4"), *common, *seg], env)
    print(f"{args.input.name}, first {args.end:g} s, x{args.scale}, segments of "
          f"{args.segment_frames} frames, {os.cpu_count()} cores")
    print(f"once      {once:8.1f} s")
    print(f"segments  {segments:8.1f} s   segments / once = {segments / once:.3f}")
    print(f"torchrun  {shared:8.1f} s   ({args.nproc} processes)   "
          f"segments / torchrun = {segments / shared:.2f}x")
    print(f"1 thread  {alone:8.1f} s   (one of them alone)   "
          f"1 thread / torchrun = {alone / shared:.2f}x")


if __name__ == "__main__":
    main()
