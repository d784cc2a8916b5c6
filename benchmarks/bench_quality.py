"""Quality of a checkpoint against bicubic on held-out footage, per scale and degradation.

Three kinds of held-out set, each scored for every scale and degradation:

- ``clips``: the two videos ``conf/experiment/release_tiny.yaml`` keeps out of training, from
  ``../shared/data/videos``. The first ``--frames`` frames are decoded, centre-cropped to at
  most ``--crop`` (keeps the CPU time of larger clips bounded) and written as PNG frames, one
  folder per clip; every frame is scored.
- ``vimeo``: every septuplet of ``../shared/data/vimeo90k_mini`` (16 real Vimeo-90K
  septuplets, 448x256), scored on the centre frame as in the Vimeo-90K-T protocol. No
  release trains on them.
- ``--folders DIR``: any frame-folder benchmark in the ``vsr-eval`` folder layout
  (``DIR/<clip>/*.png``, e.g. Vid4's ``GT``), every frame scored.

For every set, scale and degradation, the ground truth is degraded with the project's
pipeline (``vsr.data.degradations.degrade``, seed 0: noise sigma and x264 CRF are drawn once,
the same for every clip) and upscaled by MATLAB bicubic and by the checkpoint (which is told
the degradation, not its strength). PSNR and SSIM on BT.601 Y, no border crop, averaged per
clip and then over clips: the scoring of ``vsr-eval`` (:mod:`vsr.evaluation.runner`), so a row
can be re-checked with ``vsr-eval --dataset-root ROOT --layout folders|vimeo --scale S
--degradation D``.

Prints a Markdown table per set (model - bicubic gain per row); ``--output-json`` /
``--output-md`` keep them. Run: ``python benchmarks/bench_quality.py`` (``--help`` for the
options).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_DATA = REPO / ".." / "shared" / "data"
VIDEOS = SHARED_DATA / "videos"
VIMEO = SHARED_DATA / "vimeo90k_mini"
#: The clips release_tiny holds out (natural footage with detail; see checkpoints/README.md).
HELD_OUT = ("imageio_realshort.mp4", "psd_issue-195-aspect-ratio.mp4")

import numpy as np  # noqa: E402

from vsr.conditions import DEGRADATIONS, SCALES  # noqa: E402


@contextlib.contextmanager
def work_dir_lock(work_dir: Path, on_wait: Callable[[str], None] = print) -> Iterator[None]:
    """Hold ``work_dir`` for one run: a second run on it waits until the first is done.

    Each run re-extracts the held-out frames into ``work_dir``, removing the old ones first,
    so two runs sharing it would delete the frames the other is reading. The lock is the
    kernel's (``flock``): it goes with the process, even a killed one. Where ``fcntl`` is
    missing (Windows), runs are not serialised: give each its own ``--work-dir``.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    with open(work_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"another bench_quality run is using {work_dir}: waiting for it to finish "
                    "(give each run its own --work-dir to run them side by side)")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def extract_frames(video: Path, folder: Path, frames: int, crop: tuple[int, int]) -> int:
    """Decode the first ``frames`` frames of ``video`` into ``folder/00000.png ...``.

    Frames larger than ``crop`` = (width, height) are centre-cropped to it. Returns the number
    of frames written (fewer when the video is shorter).
    """
    from vsr.data.extract import extract_video

    def centre_crop(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        cw, ch = min(crop[0], w), min(crop[1], h)
        top, left = (h - ch) // 2, (w - cw) // 2
        return image[top : top + ch, left : left + cw]

    return extract_video(video, folder, frames, centre_crop)


def strength_of(frame: np.ndarray, scale: int, kind: str, seed: int, options: dict) -> str:
    """The strength ``degrade`` uses for ``kind`` (drawn from ``seed`` unless fixed by
    ``options``; it does not depend on the frames)."""
    from vsr.data.degradations import degrade

    info = degrade(frame[None], scale, kind, seed=seed, **options)[1]
    raw = info["raw_strength"]
    if raw is None:
        return ""
    return f"{info['param']} {raw:.1f}" if isinstance(raw, float) else f"{info['param']} {raw}"


def conditions(kinds: list[str], crfs: list[int]) -> list[tuple[str, dict]]:
    """(degradation, fixed degrade options) per row: every kind with its seeded strength,
    then compression at each fixed CRF of ``crfs``."""
    rows = [(kind, {}) for kind in kinds]
    if "compression" in kinds:
        rows += [("compression", {"crf": crf}) for crf in crfs]
    return rows


def video_clips_set(videos: Path, names: list[str], work_dir: Path, frames: int,
                    crop: tuple[int, int]) -> list:
    """The held-out videos as frame folders under ``work_dir/frames``, every frame scored."""
    from vsr.evaluation.datasets import find_clips

    frames_root = work_dir / "frames"
    for name in names:
        n = extract_frames(videos / name, frames_root / Path(name).stem, frames, crop)
        print(f"{name}: {n} frames -> {frames_root / Path(name).stem}")
    return find_clips(frames_root, "folders", clips=[Path(n).stem for n in names])


def vimeo_set(root: Path, work_dir: Path) -> list:
    """Every septuplet under ``root/sequences``, centre frame scored (Vimeo-90K-T protocol)."""
    from vsr.data.prepare import find_septuplets
    from vsr.evaluation.datasets import find_clips

    ids = find_septuplets(root / "sequences")
    if not ids:
        raise FileNotFoundError(f"no septuplets (sequences/<a>/<b>/im1-7.png) under {root}")
    # The official list file may be absent (vimeo90k_mini has none): list what is there.
    test_list = work_dir / "vimeo_list.txt"
    test_list.parent.mkdir(parents=True, exist_ok=True)
    test_list.write_text("\n".join(ids) + "\n")
    return find_clips(root, "vimeo", test_list=test_list, centre_only=True)


def evaluate(
    clips: list, checkpoint: Path | None, scales: list[int], kinds: list[str],
    device: str, crfs: list[int] = (), seed: int = 0, precision: str = "fp32",
) -> list[dict]:
    """Bicubic and model scores of ``clips`` for every scale and condition
    (:func:`conditions`); a dict per row."""
    from vsr.evaluation.runner import Protocol, average_over_clips, evaluate_clip
    from vsr.evaluation.upscalers import matlab_bicubic_upscaler, model_upscaler
    from vsr.inference import DEFAULT_CHECKPOINT

    first = clips[0].gt.read([0])[0]
    rows = []
    for scale in scales:
        for kind, options in conditions(kinds, list(crfs)):
            started = time.perf_counter()
            protocol = Protocol(scale, kind, y_channel=True, crop_border=0, seed=seed,
                                degrade_options=tuple(options.items()))
            model = model_upscaler(checkpoint or DEFAULT_CHECKPOINT, scale, kind, device,
                                   precision=precision)
            base = [evaluate_clip(c, matlab_bicubic_upscaler(scale), protocol) for c in clips]
            ours = [evaluate_clip(c, model, protocol) for c in clips]
            b, m = average_over_clips(base), average_over_clips(ours)
            row = {
                "scale": scale, "degradation": kind,
                "strength": strength_of(first, scale, kind, seed, options),
                "bicubic_psnr": b["psnr"], "bicubic_ssim": b["ssim"],
                "model_psnr": m["psnr"], "model_ssim": m["ssim"],
                "gain_db": m["psnr"] - b["psnr"],
                "per_clip": {
                    c.name: {"bicubic": x.means(), "model": y.means()}
                    for c, x, y in zip(clips, base, ours, strict=True)
                },
                "seconds": time.perf_counter() - started,
            }
            rows.append(row)
            print(f"x{scale} {kind:12s} {row['strength']:16s} "
                  f"bicubic {b['psnr']:.2f} dB / {b['ssim']:.4f}  "
                  f"model {m['psnr']:.2f} dB / {m['ssim']:.4f}  ({row['gain_db']:+.2f} dB, "
                  f"{row['seconds']:.0f} s)", flush=True)
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (PSNR dB / SSIM on Y)."""
    lines = [
        "| scale | degradation | bicubic PSNR / SSIM | model PSNR / SSIM | gain (dB) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        kind = r["degradation"] + (f" ({r['strength']})" if r["strength"] else "")
        lines.append(
            f"| x{r['scale']} | {kind} | {r['bicubic_psnr']:.2f} / {r['bicubic_ssim']:.4f} | "
            f"{r['model_psnr']:.2f} / {r['model_ssim']:.4f} | {r['gain_db']:+.2f} |"
        )
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 320x240, got {text!r}")
    return int(w), int(h)


def _score_sets(args: argparse.Namespace, sets: list[str], names: list[str], scales: list[int],
                kinds: list[str], crfs: list[int]) -> tuple[dict, list[str]]:
    """Extract and score every requested set (``names``: the held-out clips; inputs checked
    by :func:`main`): results per set and their Markdown tables."""
    from vsr.evaluation.datasets import find_clips

    benchmarks: dict[str, list] = {}
    if "clips" in sets:
        benchmarks["held-out clips"] = video_clips_set(
            args.videos, names, args.work_dir, args.frames, args.crop)
    if "vimeo" in sets:
        benchmarks["Vimeo-90K septuplets"] = vimeo_set(args.vimeo, args.work_dir)
    for folder in args.folders:
        benchmarks[f"folders {folder}"] = find_clips(folder, "folders")

    results, tables = {}, []
    for name, clips in benchmarks.items():
        print(f"== {name}: {len(clips)} clips", flush=True)
        rows = evaluate(clips, args.checkpoint, scales, kinds, args.device, crfs,
                        precision=args.precision)
        results[name] = {"clips": [c.name for c in clips], "rows": rows}
        tables.append(f"### {name} ({len(clips)} clips)\n\n{markdown_table(rows)}\n")
    return results, tables


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="exported .pt (default: the shipped checkpoints/vsr_tiny.pt)")
    p.add_argument("--sets", default=None,
                   help="comma-separated built-in sets: clips, vimeo (default: both, or none "
                        "when --folders is given)")
    p.add_argument("--folders", type=Path, action="append", default=[], metavar="DIR",
                   help="a frame-folder benchmark DIR/<clip>/*.png to score too (repeatable)")
    p.add_argument("--videos", type=Path, default=VIDEOS, help="folder of the held-out videos")
    p.add_argument("--clips", default=",".join(HELD_OUT), help="comma-separated file names")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    p.add_argument("--crop", type=_size, default=(256, 192),
                   help="centre crop of larger frames, WxH (default 256x192)")
    p.add_argument("--vimeo", type=Path, default=VIMEO,
                   help="a Vimeo-90K tree holding sequences/ "
                        "(default ../shared/data/vimeo90k_mini)")
    p.add_argument("--scales", default="2,3,4", help="comma-separated (default 2,3,4)")
    p.add_argument("--degradations", default=",".join(DEGRADATIONS))
    p.add_argument("--crfs", default="23,28",
                   help="extra compression rows at these fixed x264 CRFs (default 23,28; "
                        "'' for none); the plain compression row draws its CRF from seed 0")
    p.add_argument("--work-dir", type=Path, default=REPO / "outputs" / "bench_quality",
                   help="where the extracted frames go (default outputs/bench_quality); "
                        "runs sharing one take turns")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16", "auto"],
                   help="the model's precision (default fp32, reproducible)")
    p.add_argument("--output-json", type=Path, default=None)
    p.add_argument("--output-md", type=Path, default=None)
    args = p.parse_args(argv)

    scales = [int(s) for s in args.scales.split(",")]
    kinds = args.degradations.split(",")
    crfs = [int(c) for c in args.crfs.split(",") if c]
    bad = [s for s in scales if s not in SCALES] + [k for k in kinds if k not in DEGRADATIONS]
    if bad:
        p.error(f"unknown scale/degradation {bad}: scales {SCALES}, degradations {DEGRADATIONS}")
    default_sets = "" if args.folders else "clips,vimeo"
    sets = [x for x in (args.sets if args.sets is not None else default_sets).split(",") if x]
    unknown = [x for x in sets if x not in ("clips", "vimeo")]
    if unknown or not (sets or args.folders):
        p.error(f"--sets takes clips and/or vimeo (got {args.sets!r}), or give --folders DIR")

    names = [c for c in args.clips.split(",") if c]
    missing = [n for n in names if not (args.videos / n).is_file()]
    if "clips" in sets and missing:
        print(f"held-out videos not found in {args.videos}: {', '.join(missing)} "
              "(pass --videos, or leave them out with --sets vimeo)", file=sys.stderr)
        return 1
    if "vimeo" in sets and not (args.vimeo / "sequences").is_dir():
        print(f"no Vimeo-90K sequences/ folder in {args.vimeo} (pass --vimeo, or leave it "
              "out with --sets clips)", file=sys.stderr)
        return 1
    for folder in args.folders:
        if not folder.is_dir():
            print(f"--folders {folder}: not a folder", file=sys.stderr)
            return 1

    with work_dir_lock(args.work_dir):
        results, tables = _score_sets(args, sets, names, scales, kinds, crfs)
    text = "\n".join(tables)
    print(text)
    settings = {"frames": args.frames, "crop": list(args.crop), "precision": args.precision,
                "checkpoint": str(args.checkpoint or "checkpoints/vsr_tiny.pt"),
                "metric": "PSNR/SSIM on BT.601 Y, no border crop, mean over frames then clips; "
                          "Vimeo: centre frame only"}
    if args.output_json:
        args.output_json.parent.mkdir(parents=True, exist_ok=True)
        args.output_json.write_text(
            json.dumps({"settings": settings, "sets": results}, indent=1))
    if args.output_md:
        args.output_md.parent.mkdir(parents=True, exist_ok=True)
        args.output_md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
