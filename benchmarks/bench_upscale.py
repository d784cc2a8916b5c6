"""Benchmark vsr-upscale's streaming pipeline: speed against bicubic, memory against length.

1. Frames per second for a 320x240 clip (ffpy_in.mp4) at x4 with the default model (the
   shipped checkpoint, or a random ``tiny`` EDVR when none is installed: same compute),
   next to a bicubic-only run of the very same pipeline. The bicubic run is what decoding,
   colour conversion and encoding cost on their own; the ratio is the model's share.
2. Peak memory (max RSS, each run in its own subprocess) with the bicubic processor for the
   720-frame clip psd_testvideo.mp4 against its first 36 frames: streaming means the ratio
   stays close to 1 however long the video is.

3. ``--table``: the resolution table. For 360p, 720p and 1080p inputs (real files) at x2
   and x4, each run in its own process: seconds per frame (steady state: the median time
   between consecutive output frames, decoding and encoding included), peak resident memory,
   and the network's GFLOP per output frame (PyTorch's flop counter plus the deformable
   operator's own formula). Measured in the same run: a plain 64->64 3x3 convolution's
   throughput in fp32 and bf16 (oneDNN, channels-last), whose best gives the floor (the
   network's FLOPs at that rate) and "x above the floor". ``old`` is the previous default
   (fp32, untiled, glibc's default allocator); ``new`` is today's default (``--precision
   auto --tile auto``). ``old`` runs under a 20 GB address-space limit so that a run that
   needs more fails cleanly instead of waking the OOM killer.

4. ``--checkpoints OLD NEW ...``: seconds per output frame of each exported file on the same
   real frames (the 720p file's first frames, area-downscaled to the input of a 1280x720
   output at x4), as ``vsr-upscale`` computes them with its default options, in one process
   with the runs alternated (so the machine's drift falls on both alike); the median after
   two warm-up runs each and its ratio to the first file. What a release is checked against:
   "no slower per frame than today's model". Only this runs when it is given.

Run: ``python benchmarks/bench_upscale.py`` (``--help`` for the segment length, device);
``python benchmarks/bench_upscale.py --table --skip-speed --skip-memory`` for the table.
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
from vsr.video import OpenCVBicubicProcessor, transcode
t = time.perf_counter()
r = transcode({src!r}, {out!r}, OpenCVBicubicProcessor(scale={scale}), end={end!r}, overwrite=True)
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
    from vsr.video import OpenCVBicubicProcessor, transcode

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
        base = transcode(src, Path(tmp) / "bicubic.mp4", OpenCVBicubicProcessor(4), end=end)
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


# One row of the resolution table, in a fresh process: its VmHWM is this run's peak alone.
_TABLE_RUN = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
mode = {mode!r}
if mode == "old":  # a run that needs more fails with MemoryError instead of an OOM kill
    resource.setrlimit(resource.RLIMIT_AS, (20 * 2**30, 20 * 2**30))
import numpy as np
from vsr.inference import load_model
from vsr.inference.runtime import keep_freed_memory, resolve_device, resolve_precision
from vsr.inference.upscale import ModelProcessor
from vsr.video import transcode
if mode == "new":
    keep_freed_memory()
device = resolve_device("cpu")
model = load_model(None, device)
precision = resolve_precision("auto" if mode == "new" else "fp32", device)
processor = ModelProcessor(model, {scale}, tile="auto" if mode == "new" else 0,
                           precision=precision, max_memory={max_memory!r})
stamps = []

class Enough(Exception):
    pass

class Timed:
    num_frames, scale = processor.num_frames, processor.scale
    def __call__(self, windows):
        out = processor(windows)
        stamps.append(time.perf_counter())
        if len(stamps) == {frames}:
            raise Enough  # the output file is not needed, only the timings
        return out

error = None
try:
    transcode({src!r}, {out!r}, Timed(), overwrite=True)
except Enough:
    pass
except (MemoryError, RuntimeError) as exc:
    error = type(exc).__name__ + ": " + str(exc).splitlines()[0][:80]
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
steps = np.diff(stamps) if len(stamps) > 1 else np.array([float("nan")])
plan = next(iter(processor._plans.values()), None)
print(json.dumps({{"seconds": float(np.median(steps)), "peak_mb": int(hwm) / 1024,
                  "precision": precision, "plan": str(plan), "error": error}}))
"""

#: (label, source, its width x height): real files at the table's resolutions.
TABLE_INPUTS = [
    ("240p", VIDEOS / "ffpy_in.mp4", (320, 240)),
    ("360p", VIDEOS.parent / "lr_clips" / "realworld_000", (640, 360)),
    ("720p", VIDEOS / "psd_testvideo.mp4", (1280, 720)),
    ("1080p", VIDEOS / "psd_issue-236-split-copy.mkv", (1920, 1080)),
]
#: The real file whose first frames --checkpoints times the models on.
CHECKPOINTS_INPUT = next(src for label, src, _ in TABLE_INPUTS if label == "720p")


def _network_gflop(scale: int, width: int, height: int) -> float:
    """GFLOP of the shipped network per output frame in steady state (one new frame's
    features plus one window's restore), counted at 64x64 and scaled by the pixel count."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vsr.inference import load_model

    model = load_model(None, torch.device("cpu"))
    x = torch.rand(1, model.num_frames, 3, 64, 64)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        features = model.extract_features(x[0])
        per_frame = counter.get_total_flops() / model.num_frames
        model.restore(features, x[:, model.num_frames // 2], scale)
    per_window = counter.get_total_flops() - per_frame * model.num_frames
    return (per_frame + per_window) * (width * height) / (64 * 64) / 1e9


def _conv_gflops() -> dict[str, float]:
    """Throughput of a 64->64 3x3 convolution at 360x640, channels-last, per dtype."""
    import torch

    rates = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dtype, memory_format=torch.channels_last)
        x = torch.rand(1, 64, 360, 640).to(dtype, memory_format=torch.channels_last)
        with torch.inference_mode():
            conv(x)
            runs, start = 0, time.perf_counter()
            while runs < 3 or time.perf_counter() - start < 2.0:
                conv(x)
                runs += 1
        rates[name] = 2 * 64 * 64 * 9 * 360 * 640 * runs / (time.perf_counter() - start) / 1e9
    return rates


def _table(
    rows: list[str], scales: list[int], modes: list[str], frames: int, max_memory: int | None
) -> None:
    from vsr.inference.runtime import cpu_has_native_bf16

    rates = _conv_gflops()
    best = max(rates, key=rates.get)
    native = "native" if cpu_has_native_bf16() else "emulated"
    print(f"3x3 conv 64->64 at 360x640: fp32 {rates['fp32']:.0f} GFLOP/s, bf16 "
          f"{rates['bf16']:.0f} GFLOP/s (bf16 {native} here); floor = network FLOPs at "
          f"{rates[best]:.0f} GFLOP/s ({best})")
    print(f"{'input':>12} {'scale':>5} {'run':>4} {'precision':>9} {'s/frame':>8} "
          f"{'peak MB':>8} {'GFLOP':>7} {'x floor':>7} {'speed-up':>8}  tiling")
    with tempfile.TemporaryDirectory() as tmp:
        for label, src, (width, height) in TABLE_INPUTS:
            if label not in rows:
                continue
            for scale in scales:
                gflop = _network_gflop(scale, width, height)
                floor = gflop / rates[best]
                seconds = {}
                for mode in modes:
                    n = frames if mode == "new" or height < 1080 else min(frames, 3)
                    code = _TABLE_RUN.format(repo=str(REPO), mode=mode, scale=scale,
                                             src=str(src), out=f"{tmp}/out.mkv", frames=n,
                                             max_memory=max_memory)
                    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                          text=True)
                    lines = proc.stdout.strip().splitlines()
                    if proc.returncode != 0 or not lines:
                        print(f"{label:>12} x{scale:<4} {mode:>4}  failed (exit "
                              f"{proc.returncode}): {proc.stderr.strip()[-200:]}")
                        continue
                    r = json.loads(lines[-1])
                    if r["error"]:
                        print(f"{label:>12} x{scale:<4} {mode:>4}  {r['error']} "
                              f"(peak {r['peak_mb']:.0f} MB)")
                        continue
                    seconds[mode] = r["seconds"]
                    speedup = (f"{seconds['old'] / r['seconds']:7.2f}x"
                               if mode == "new" and "old" in seconds else "")
                    print(f"{label + f' {width}x{height}':>12} x{scale:<4} {mode:>4} "
                          f"{r['precision']:>9} {r['seconds']:8.2f} {r['peak_mb']:8.0f} "
                          f"{gflop:7.0f} {r['seconds'] / floor:7.1f} {speedup:>8}  {r['plan']}",
                          flush=True)


def compare_checkpoints(paths: list[Path], frames: int = 3, rounds: int = 8,
                        scale: int = 4, output_size: tuple[int, int] = (1280, 720)) -> dict:
    """Median seconds per output frame of each exported file (see the module docstring);
    prints a line per file and returns {path: seconds}."""
    import statistics

    import cv2
    import numpy as np

    from vsr.inference import load_model, upscale_frames
    from vsr.video.access import VideoFile
    from vsr.video.colour import frame_to_rgb

    source = VideoFile(CHECKPOINTS_INPUT)
    size = (output_size[0] // scale, output_size[1] // scale)
    try:
        low = np.stack([
            cv2.resize(frame_to_rgb(f, source.colour), size, interpolation=cv2.INTER_AREA)
            for _, f in source.frames(0, frames)])
    finally:
        source.close()
    models = {path: load_model(path) for path in paths}
    times: dict[Path, list[float]] = {path: [] for path in paths}
    for r in range(rounds + 2):  # two warm-up rounds
        order = paths if r % 2 == 0 else paths[::-1]
        for path in order:
            started = time.perf_counter()
            upscale_frames(models[path], low, scale, "bicubic")
            times[path].append((time.perf_counter() - started) / len(low))
    medians = {path: statistics.median(t[2:]) for path, t in times.items()}
    first = medians[paths[0]]
    print(f"{len(low)} frames {size[0]}x{size[1]} -> {output_size[0]}x{output_size[1]} (x{scale}), "
          f"default options, {rounds} alternated runs each (median)")
    for path, seconds in medians.items():
        print(f"{seconds:8.3f} s/frame  x{seconds / first:.3f}  {path}")
    return medians


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
    p.add_argument("--table", action="store_true", help="the resolution table (slow: minutes)")
    p.add_argument("--rows", default="360p,720p,1080p",
                   help="inputs of the table: " + ",".join(r[0] for r in TABLE_INPUTS))
    p.add_argument("--scales", default="2,4", help="scales of the table")
    p.add_argument("--modes", default="old,new", help="old (previous default), new, or both")
    p.add_argument("--max-memory", default=None,
                   help="the new runs' --max-memory, e.g. 1.2G (default: vsr-upscale's)")
    p.add_argument("--frames", type=int, default=5,
                   help="output frames per table run (old runs at 1080p: at most 3)")
    p.add_argument("--checkpoints", type=Path, nargs="+", default=None, metavar="PT",
                   help="exported files to time against the first, per output frame (only "
                        "this runs)")
    p.add_argument("--rounds", type=int, default=8, help="alternated runs per checkpoint")
    args = p.parse_args()
    if not VIDEOS.is_dir():
        sys.exit(f"benchmark videos not found in {VIDEOS.resolve()} (../shared/data/videos)")
    if args.checkpoints:
        compare_checkpoints(args.checkpoints, rounds=args.rounds)
        return
    # Memory first, while this process is still small.
    if not args.skip_memory:
        _memory(args.memory_scale, short_end=35.5 / 29.97)
    if not args.skip_speed:
        _speed(args.seconds, args.device, args.batch)
    if args.table:
        from vsr.inference.memory import parse_size

        budget = parse_size(args.max_memory) if args.max_memory else None
        _table(args.rows.split(","), [int(x) for x in args.scales.split(",")],
               args.modes.split(","), args.frames, budget)


if __name__ == "__main__":
    main()
