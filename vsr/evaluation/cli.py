"""``vsr-eval``: PSNR / SSIM / LPIPS of a checkpoint or of bicubic upscaling on a VSR test set.

Examples::

    # The bicubic row of the papers' Vid4 table (BI x4, Y channel): 23.78 dB
    vsr-eval --method bicubic --dataset-root data/Vid4/GT --layout folders --scale 4
    # The shipped model on REDS4 (RGB), LR made on the fly, results saved
    vsr-eval --dataset-root data/REDS --layout reds --output-json reds4.json

Defaults per layout (override with --y-channel/--no-y-channel, --crop-border, --frames):

==========  ==========  ===========  ============  =========================================
layout      set         channel      crop border   frames scored
==========  ==========  ===========  ============  =========================================
folders     Vid4, UDM10 Y (BT.601)   0             all
vimeo       Vimeo-90K-T Y (BT.601)   0             centre frame (im4) of each septuplet
reds        REDS4       RGB          0             all
==========  ==========  ===========  ============  =========================================

Why: these are the settings of the VSR papers' tables (EDVR, BasicVSR, BasicVSR++ and later)
as their evaluation configs in BasicSR and MMagic state them: ``crop_border: 0`` for every
video set, ``test_y_channel: true`` for Vid4 and Vimeo-90K-T and false for REDS4, and
``center_frame_only: true`` for Vimeo-90K-T. (Single-image SR crops ``scale`` pixels
instead; pass ``--crop-border`` to follow that convention.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from vsr import inference
from vsr.command import run_command
from vsr.conditions import DEGRADATIONS, SCALES
from vsr.evaluation.datasets import LAYOUTS, find_clips
from vsr.evaluation.errors import EvaluationError
from vsr.evaluation.report import results_dict, results_table, write_csv, write_json
from vsr.evaluation.runner import ClipScores, Protocol, evaluate_clip
from vsr.evaluation.upscalers import Upscaler, matlab_bicubic_upscaler, model_upscaler
from vsr.metrics import LPIPS, LPIPSWeightsMissing

#: (y_channel, crop_border, centre frame only) per layout; see the module docstring.
LAYOUT_DEFAULTS: dict[str, tuple[bool, int, bool]] = {
    "folders": (True, 0, False),
    "vimeo": (True, 0, True),
    "reds": (False, 0, False),
}


class _FramesPerSecond(ProgressColumn):
    """Scored frames per second (upscaling included)."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.2f} fps" if task.speed else "- fps")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vsr-eval``."""
    p = argparse.ArgumentParser(
        prog="vsr-eval",
        description="Evaluate a VSR checkpoint or the bicubic baseline with PSNR, SSIM and LPIPS.",
        epilog="Per-layout defaults: folders (Vid4) and vimeo (Vimeo-90K-T, centre frame) "
        "score Y with no border crop; reds (REDS4) scores RGB with no border crop.",
    )
    p.add_argument(
        "--method",
        choices=("model", "bicubic"),
        default="model",
        help="a checkpoint, or MATLAB-bicubic upscaling of the LR input (default: model)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="exported model (.pt) for --method model (default: the shipped "
        "checkpoints/vsr_tiny.pt)",
    )
    p.add_argument("--dataset-root", type=Path, required=True, help="ground-truth tree")
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="folders",
        help="folders: ROOT/<clip>/*.png (Vid4); reds: ROOT/train_sharp/<clip>; "
        "vimeo: ROOT/sequences/<a>/<b>/im1-7.png (default: folders)",
    )
    p.add_argument(
        "--lr-root",
        type=Path,
        default=None,
        help="precomputed LR tree mirroring the ground truth (default: degrade on the fly); "
        "--degradation then only tells the model what the LR went through",
    )
    p.add_argument(
        "--test-list",
        type=Path,
        default=None,
        help="Vimeo-90K list file (default: DATASET_ROOT/sep_testlist.txt)",
    )
    p.add_argument(
        "--clips",
        default=None,
        help="comma-separated clip names (default: REDS4 for reds, all otherwise)",
    )
    p.add_argument("--scale", type=int, choices=SCALES, default=4, help="(default: 4)")
    p.add_argument(
        "--degradation",
        choices=DEGRADATIONS,
        default="bicubic",
        help="how LR frames are made: bicubic = BI, blur = BD (default: bicubic)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of random degradations (default: 0)")
    p.add_argument(
        "--y-channel",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="score PSNR/SSIM on BT.601 Y (default: per layout)",
    )
    p.add_argument(
        "--crop-border",
        type=int,
        default=None,
        help="pixels cut from each side before scoring (default: per layout, 0)",
    )
    p.add_argument(
        "--frames",
        choices=("all", "centre"),
        default=None,
        help="frames scored per clip (default: centre for vimeo, all otherwise)",
    )
    p.add_argument(
        "--lpips",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also compute LPIPS; reported as null when its weights are missing (default: on)",
    )
    p.add_argument("--lpips-net", choices=("alex", "vgg"), default="alex", help="(default: alex)")
    p.add_argument(
        "--lpips-weights",
        type=Path,
        default=None,
        help="ImageNet backbone file for LPIPS (default: the torch hub cache)",
    )
    p.add_argument("--output-json", type=Path, default=None, metavar="FILE")
    p.add_argument("--output-csv", type=Path, default=None, metavar="FILE")
    p.add_argument(
        "--save-crops",
        type=Path,
        default=None,
        metavar="DIR",
        help="write bicubic | model | ground-truth crops as PNG here",
    )
    p.add_argument("--num-crops", type=int, default=4, help="clips to save a crop of (default: 4)")
    p.add_argument(
        "--crop-size", type=int, default=160, help="crop side in HR pixels (default: 160)"
    )
    p.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device for the model and LPIPS (default: cuda when available)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "auto", "fp16", "bf16"),
        default="fp32",
        help="model arithmetic; fp32 keeps the numbers reproducible (default: fp32)",
    )
    p.add_argument("--tile", type=int, default=None, help="tile size (LR pixels) for big frames")
    return p


def _checkpoint_path(args: argparse.Namespace) -> Path:
    """--checkpoint, or the shipped default that the loader defines."""
    return Path(args.checkpoint or inference.DEFAULT_CHECKPOINT)


def _make_upscaler(args: argparse.Namespace) -> Upscaler:
    if args.method == "bicubic":
        return matlab_bicubic_upscaler(args.scale)
    checkpoint = _checkpoint_path(args)
    if not Path(checkpoint).is_file():
        which = "the shipped checkpoint" if args.checkpoint is None else "checkpoint"
        raise EvaluationError(
            f"{which} {checkpoint} does not exist: pass --checkpoint PATH to an exported .pt "
            "file, or use --method bicubic for the bicubic baseline"
        )
    return model_upscaler(
        checkpoint, args.scale, args.degradation, args.device, args.precision, args.tile
    )


def _make_lpips(args: argparse.Namespace, console: Console) -> tuple[LPIPS | None, str]:
    """The LPIPS metric, or None with the reason shown once (LPIPS is then reported as null)."""
    if not args.lpips:
        return None, "disabled (--no-lpips)"
    try:
        return LPIPS(args.lpips_net, device=args.device, backbone_weights=args.lpips_weights), ""
    except LPIPSWeightsMissing as err:
        console.print(
            f"[yellow]LPIPS unavailable, reporting PSNR and SSIM only:[/] {escape(str(err))}"
        )
        return None, f"unavailable: {err}"


def run(args: argparse.Namespace, console: Console) -> dict:
    """Evaluate as ``args`` says; returns the results document (see :mod:`.report`)."""
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        raise EvaluationError(f"--device {args.device}: no CUDA GPU is available; use --device cpu")
    y_default, crop_default, centre_default = LAYOUT_DEFAULTS[args.layout]
    protocol = Protocol(
        scale=args.scale,
        degradation=args.degradation,
        y_channel=y_default if args.y_channel is None else args.y_channel,
        crop_border=crop_default if args.crop_border is None else args.crop_border,
        seed=args.seed,
    )
    centre = centre_default if args.frames is None else args.frames == "centre"
    clips = find_clips(
        args.dataset_root,
        args.layout,
        lr_root=args.lr_root,
        clips=[c.strip() for c in args.clips.split(",") if c.strip()] if args.clips else None,
        test_list=args.test_list,
        centre_only=centre,
    )
    upscaler = _make_upscaler(args)
    lpips_metric, lpips_note = _make_lpips(args, console)

    results: list[ClipScores] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        _FramesPerSecond(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("evaluating", total=sum(len(c.scored) for c in clips))
        for k, clip in enumerate(clips):
            progress.update(task, description=f"clip {clip.name}")
            crop_path = None
            if args.save_crops is not None and k < args.num_crops:
                crop_path = args.save_crops / f"{clip.name.replace('/', '_')}.png"
            results.append(
                evaluate_clip(
                    clip,
                    upscaler,
                    protocol,
                    lpips_metric,
                    crop_path=crop_path,
                    crop_size=args.crop_size,
                    crop_with_output=args.method != "bicubic",
                    on_frame=lambda: progress.advance(task),
                )
            )

    settings = {
        "method": args.method,
        "checkpoint": None if args.method == "bicubic" else str(_checkpoint_path(args)),
        "dataset_root": str(args.dataset_root),
        "layout": args.layout,
        "lr_root": None if args.lr_root is None else str(args.lr_root),
        "scale": protocol.scale,
        "degradation": protocol.degradation,
        "y_channel": protocol.y_channel,
        "crop_border": protocol.crop_border,
        "frames": "centre" if centre else "all",
        "seed": protocol.seed,
        "lpips": lpips_note or f"computed ({args.lpips_net})",
    }
    return results_dict(results, settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vsr-eval``; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_command("vsr-eval", lambda: _evaluate(args))


def _evaluate(args: argparse.Namespace) -> int:
    doc = run(args, Console(stderr=True))
    s = doc["settings"]
    title = (
        f"{s['method']} x{s['scale']} {s['degradation']} on {Path(s['dataset_root']).name} "
        f"({'Y' if s['y_channel'] else 'RGB'}, crop {s['crop_border']})"
    )
    Console().print(results_table(doc, title))
    if args.output_json is not None:
        write_json(args.output_json, doc)
    if args.output_csv is not None:
        write_csv(args.output_csv, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
