"""Quality of a checkpoint against bicubic on held-out real footage, per scale and degradation.

For each held-out video (default: the two clips ``conf/experiment/release_tiny.yaml`` keeps
out of training, from ``../shared/data/videos``):

1. the first ``--frames`` frames are decoded and centre-cropped to at most ``--crop`` (keeps
   the CPU time of 720p clips bounded), and written as PNG frames, one folder per clip;
2. for every scale and degradation, the frames are degraded with the project's pipeline
   (``vsr.data.degradations.degrade``, seed 0: noise sigma and x264 CRF are drawn once, the
   same for every clip) and upscaled by MATLAB bicubic and by the checkpoint (which is told
   the degradation, not its strength);
3. PSNR and SSIM on BT.601 Y, no border crop, every frame, averaged per clip and then over
   clips: the scoring of ``vsr-eval`` (:mod:`vsr.evaluation.runner`), so any row can be
   re-checked with ``vsr-eval --dataset-root WORK/frames --scale S --degradation D``.

Prints a Markdown table (model - bicubic gain per row); ``--output-json`` / ``--output-md``
keep it. Run: ``python benchmarks/bench_quality.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
VIDEOS = REPO / ".." / "shared" / "data" / "videos"
#: The clips release_tiny holds out (natural footage with detail; see checkpoints/README.md).
HELD_OUT = ("imageio_realshort.mp4", "psd_issue-195-aspect-ratio.mp4")

import numpy as np  # noqa: E402

from vsr.conditions import DEGRADATIONS, SCALES  # noqa: E402
from vsr.video.png import save_png  # noqa: E402


def extract_frames(video: Path, folder: Path, frames: int, crop: tuple[int, int]) -> int:
    """Decode the first ``frames`` frames of ``video`` into ``folder/00000.png ...``.

    Frames larger than ``crop`` = (width, height) are centre-cropped to it. Returns the number
    of frames written (fewer when the video is shorter).
    """
    from vsr.video.clips import VideoClip

    clip = VideoClip(video)
    count = min(frames, clip.num_frames)
    images = clip.read(list(range(count)))
    h, w = images.shape[1:3]
    cw, ch = min(crop[0], w), min(crop[1], h)
    top, left = (h - ch) // 2, (w - cw) // 2
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    for i, image in enumerate(images):
        save_png(folder / f"{i:05d}.png", image[top : top + ch, left : left + cw])
    clip.close()
    return count


def strength_of(frame: np.ndarray, scale: int, kind: str, seed: int) -> str:
    """The strength ``degrade`` draws for ``kind`` with ``seed`` (it does not depend on frames)."""
    from vsr.data.degradations import degrade

    info = degrade(frame[None], scale, kind, seed=seed)[1]
    raw = info["raw_strength"]
    if raw is None:
        return ""
    return f"{info['param']} {raw:.1f}" if isinstance(raw, float) else f"{info['param']} {raw}"


def evaluate(
    frames_root: Path, checkpoint: Path | None, scales: list[int], kinds: list[str],
    device: str, seed: int = 0,
) -> list[dict]:
    """Bicubic and model scores for every (scale, degradation); one dict per row."""
    from vsr.evaluation.datasets import find_clips
    from vsr.evaluation.runner import Protocol, average_over_clips, evaluate_clip
    from vsr.evaluation.upscalers import matlab_bicubic_upscaler, model_upscaler
    from vsr.inference import DEFAULT_CHECKPOINT

    clips = find_clips(frames_root, "folders")
    first = clips[0].gt.read([0])[0]
    rows = []
    for scale in scales:
        for kind in kinds:
            started = time.perf_counter()
            protocol = Protocol(scale, kind, y_channel=True, crop_border=0, seed=seed)
            model = model_upscaler(checkpoint or DEFAULT_CHECKPOINT, scale, kind, device)
            base = [evaluate_clip(c, matlab_bicubic_upscaler(scale), protocol) for c in clips]
            ours = [evaluate_clip(c, model, protocol) for c in clips]
            b, m = average_over_clips(base), average_over_clips(ours)
            row = {
                "scale": scale, "degradation": kind,
                "strength": strength_of(first, scale, kind, seed),
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
            print(f"x{scale} {kind:12s} bicubic {b['psnr']:.2f} dB / {b['ssim']:.4f}  "
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="exported .pt (default: the shipped checkpoints/vsr_tiny.pt)")
    p.add_argument("--videos", type=Path, default=VIDEOS, help="folder of the held-out videos")
    p.add_argument("--clips", default=",".join(HELD_OUT), help="comma-separated file names")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    p.add_argument("--crop", type=_size, default=(256, 192),
                   help="centre crop of larger frames, WxH (default 256x192)")
    p.add_argument("--scales", default="2,3,4", help="comma-separated (default 2,3,4)")
    p.add_argument("--degradations", default=",".join(DEGRADATIONS))
    p.add_argument("--work-dir", type=Path, default=REPO / "outputs" / "bench_quality",
                   help="where the extracted frames go (default outputs/bench_quality)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--output-json", type=Path, default=None)
    p.add_argument("--output-md", type=Path, default=None)
    args = p.parse_args(argv)

    scales = [int(s) for s in args.scales.split(",")]
    kinds = args.degradations.split(",")
    bad = [s for s in scales if s not in SCALES] + [k for k in kinds if k not in DEGRADATIONS]
    if bad:
        p.error(f"unknown scale/degradation {bad}: scales {SCALES}, degradations {DEGRADATIONS}")
    names = [c for c in args.clips.split(",") if c]
    missing = [n for n in names if not (args.videos / n).is_file()]
    if missing:
        print(f"held-out videos not found in {args.videos}: {', '.join(missing)} (pass --videos)",
              file=sys.stderr)
        return 1

    frames_root = args.work_dir / "frames"
    for name in names:
        n = extract_frames(args.videos / name, frames_root / Path(name).stem, args.frames,
                           args.crop)
        print(f"{name}: {n} frames -> {frames_root / Path(name).stem}")
    rows = evaluate(frames_root, args.checkpoint, scales, kinds, args.device)
    table = markdown_table(rows)
    print(table)
    settings = {"clips": names, "frames": args.frames, "crop": list(args.crop),
                "checkpoint": str(args.checkpoint or "checkpoints/vsr_tiny.pt"),
                "metric": "PSNR/SSIM on BT.601 Y, no border crop, mean over frames then clips"}
    if args.output_json:
        args.output_json.parent.mkdir(parents=True, exist_ok=True)
        args.output_json.write_text(json.dumps({"settings": settings, "rows": rows}, indent=1))
    if args.output_md:
        args.output_md.parent.mkdir(parents=True, exist_ok=True)
        args.output_md.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
