"""Benchmark vsr-upscale's streaming pipeline: speed against bicubic, memory against length.

1. Frames per second for a 320x240 clip (ffpy_in.mp4) at x4 with the default model (the
   shipped checkpoint, or a random ``tiny`` EDVR when none is installed: same compute),
   next to a bicubic-only run of the very same pipeline. The bicubic run is what decoding,
   colour conversion and encoding cost on their own; the ratio is the model's share.
2. Peak memory (max RSS, each run in its own subprocess) with the bicubic processor for the
   720-frame clip psd_testvideo.mp4 against its first 36 frames: streaming means the ratio
   stays close to 1 however long the video is.

Run: ``python benchmarks/bench_upscale.py`` (``--help`` for the segment length, device).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VIDEOS = REPO / ".." / "shared" / "data" / "videos"

# Peak memory is VmHWM (this process's high-water resident set, reset by exec). The
# getrusage maxrss of a child is not usable here: Linux carries it over from the parent at
# fork, so a child started by a big parent reports the parent's size.
_MEMORY_RUN = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from vsr.video import BicubicProcessor, transcode
t = time.perf_counter()
r = transcode({src!r}, {out!r}, BicubicProcessor(scale={scale}), end={end!r}, overwrite=True)
try:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    peak_mb = int(hwm) / 1024
except OSError:  # not Linux: maxrss (KiB on Linux, bytes on macOS)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20 if sys.platform
                                                                 == "darwin" else 1024)
print(json.dumps({{"frames": r.frames, "seconds": time.perf_counter() - t,
                  "max_rss_mb": peak_mb}}))
"""


def _speed(end: float, device: str, batch: int) -> None:
    from vsr.inference import DEFAULT_CHECKPOINT, load_model
    from vsr.inference.runtime import resolve_device
    from vsr.inference.upscale import upscale_video
    from vsr.video import BicubicProcessor, transcode

    src = VIDEOS / "ffpy_in.mp4"
    dev = resolve_device(device)
    if DEFAULT_CHECKPOINT.exists():
        model, name = load_model(None, dev), f"shipped {DEFAULT_CHECKPOINT.name}"
    else:
        import torch

        from vsr.models import build_edvr

        torch.manual_seed(0)
        model, name = build_edvr("tiny").eval().to(dev), "random tiny EDVR (no shipped weights)"
    with tempfile.TemporaryDirectory() as tmp:
        base = transcode(src, Path(tmp) / "bicubic.mp4", BicubicProcessor(4), end=end)
        t = time.perf_counter()
        run = upscale_video(src, Path(tmp) / "model.mp4", model=model, scale=4, end=end,
                            batch=batch)
        seconds = time.perf_counter() - t
    model_fps = run.frames / seconds
    print(f"speed: ffpy_in.mp4 320x240 -> 1280x960, first {run.frames} frames, {dev}")
    print(f"  model ({name}): {model_fps:8.2f} frames/s")
    print(f"  bicubic, same pipeline:        {base.fps:8.2f} frames/s")
    print(f"  model / bicubic time:          {base.fps / model_fps:8.1f}x")


def _memory(scale: int, short_end: float) -> None:
    src = VIDEOS / "psd_testvideo.mp4"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        # A middle length too: the encoder's look-ahead (~40 frames for x264) fills during
        # the first frames, so growth should stop after that, not continue with length.
        for label, end in (("short", short_end), ("mid", 6.0), ("full", None)):
            code = _MEMORY_RUN.format(repo=str(REPO), src=str(src), out=f"{tmp}/{label}.mp4",
                                      scale=scale, end=end)
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True)
            results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    short, full = results["short"], results["full"]
    print(f"memory: psd_testvideo.mp4 1280x720, bicubic x{scale}, one process per run")
    for label, r in results.items():
        print(f"  {label:5s}: {r['frames']:4d} frames, peak RSS {r['max_rss_mb']:7.1f} MiB, "
              f"{r['frames'] / r['seconds']:6.1f} frames/s")
    mid = results["mid"]
    for a, b in ((full, short), (full, mid)):
        print(f"  peak RSS ratio {a['frames']} / {b['frames']} frames: "
              f"{a['max_rss_mb'] / b['max_rss_mb']:.2f} (1.00 = no growth with length)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=0.5,
                   help="length of the speed segment in seconds (29.97 fps; default 0.5)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--memory-scale", type=int, default=1,
                   help="bicubic factor for the memory runs (1 keeps 720 frames fast to encode)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    args = p.parse_args()
    if not VIDEOS.is_dir():
        sys.exit(f"benchmark videos not found in {VIDEOS.resolve()} (../shared/data/videos)")
    # Memory first, while this process is still small.
    if not args.skip_memory:
        _memory(args.memory_scale, short_end=35.5 / 29.97)
    if not args.skip_speed:
        _speed(args.seconds, args.device, args.batch)


if __name__ == "__main__":
    main()
