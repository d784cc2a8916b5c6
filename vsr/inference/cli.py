"""``vsr-upscale INPUT OUTPUT``: upscale a video file or a folder of frames."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from vsr.command import run_command
from vsr.conditions import DEGRADATIONS, SCALES
from vsr.inference.errors import InferenceError
from vsr.inference.options import UpscaleOptions
from vsr.inference.runtime import DEFAULT_TILE_OVERLAP, DEVICES, PRECISIONS
from vsr.video import TranscodeOptions
from vsr.video.segments import DEFAULT_SEGMENT_FRAMES
from vsr.video.stream import PADDINGS

PROG = "vsr-upscale"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Upscale a video file or a folder of frames. Keeps every frame's timestamp, the "
            "frame rate, audio and subtitle streams, rotation, pixel aspect ratio and colour "
            "metadata; streams the input so memory does not grow with its length."
        ),
    )
    p.add_argument("input", help="video file, a folder of image frames, or a folder of videos")
    p.add_argument(
        "output",
        help="video file (.mp4, .mkv, .mov, .webm), or a folder name for PNG frames (or for "
             "the upscaled videos of a folder of videos)",
    )
    p.add_argument("--scale", type=int, default=4, choices=SCALES, help="upscaling factor")
    p.add_argument("--degradation", default="bicubic", choices=DEGRADATIONS,
                   help="what the input went through (conditions the network)")
    p.add_argument("--strength", type=float, default=None,
                   help="degradation strength in [0, 1] (blur, noise, compression)")
    p.add_argument("--checkpoint", default=None,
                   help="exported .pt weights (default: the shipped checkpoints/vsr_tiny.pt)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto: bf16 where it is faster (GPUs from Ampere on; CPUs with AMX, "
                        "Arm BF16 or AMD's AVX-512 BF16), else fp16 on CUDA, fp32 on the CPU")
    p.add_argument("--tile", type=_tile, default="auto",
                   help="auto (default): the largest tiles that fit --max-memory; N: tiles of "
                        "N input pixels; 0: untiled")
    p.add_argument("--tile-overlap", type=int, default=DEFAULT_TILE_OVERLAP,
                   help="context around each tile, input pixels (default %(default)s)")
    p.add_argument("--max-memory", type=_size, default=None, metavar="SIZE",
                   help="memory budget for --tile auto, e.g. 3G (default: half the free "
                        "memory, at most 1.5G on the CPU; 80%% of free GPU memory)")
    p.add_argument("--batch", type=int, default=1, help="windows per forward pass")
    p.add_argument("--window-padding", default="reflect", choices=PADDINGS,
                   help="how temporal windows are padded at the clip ends (as in validation)")
    p.add_argument("--codec", default=None,
                   help="video encoder: libx264 (default; libvpx-vp9 for .webm), libx265, ffv1")
    p.add_argument("--crf", type=int, default=18, help="constant quality (lower is better)")
    p.add_argument("--pix-fmt", default=None,
                   help="output pixel format (default yuv420p, or the input's 4:4:4/4:2:2)")
    p.add_argument("--start", type=float, default=None,
                   help="start position in seconds from the start of the file (as ffmpeg -ss)")
    p.add_argument("--end", type=float, default=None,
                   help="end position in seconds from the start of the file, exclusive "
                        "(as ffmpeg -to)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of a folder-of-frames input (default 25)")
    p.add_argument("--segment-frames", type=_non_negative, default=DEFAULT_SEGMENT_FRAMES,
                   metavar="N",
                   help="work in resumable segments of about N frames, kept in OUTPUT.vsr-job/ "
                        "until the output is joined: rerunning an interrupted command resumes "
                        "it, and torchrun/srun processes share the segments (default "
                        "%(default)s; 0: one pass, nothing to resume)")
    p.add_argument("--restart", action="store_true",
                   help="discard an unfinished job for OUTPUT instead of resuming it")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.add_argument("--compare", default=None, metavar="PNG",
                   help="also write bicubic | model side by side for the middle frame")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _tile(text: str) -> str | int:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected auto, 0 (untiled) or a number of pixels, got {text!r}"
        )
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of frames >= 0, got {text!r}")
    return value


def _size(text: str) -> int:
    from vsr.inference.memory import parse_size

    try:
        return parse_size(text)
    except InferenceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _setup_logging(quiet: bool) -> None:
    from rich.logging import RichHandler

    from vsr.video.progress import console

    handler = RichHandler(console=console, show_time=False, show_path=False)
    logger = logging.getLogger("vsr")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.ERROR if quiet else logging.WARNING)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (see :mod:`vsr.command`)."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.quiet)
    kept = " (finished segments are kept: rerun the same command to resume)"
    interrupted = f"interrupted; {args.output} was not written" + (
        kept if args.segment_frames else ""
    )
    return run_command(PROG, lambda: _run(args), interrupted)


def options_from(args: argparse.Namespace) -> UpscaleOptions:
    """The job's options, from the parsed command line (the one place they are copied)."""
    video = TranscodeOptions(
        codec=args.codec, crf=args.crf, pix_fmt=args.pix_fmt, start=args.start, end=args.end,
        fps=args.fps, batch=args.batch, padding=args.window_padding,
        segment_frames=args.segment_frames, restart=args.restart, overwrite=args.overwrite,
        quiet=args.quiet,
    )
    return UpscaleOptions(
        scale=args.scale, degradation=args.degradation, strength=args.strength,
        checkpoint=args.checkpoint, device=args.device, precision=args.precision,
        tile=args.tile, tile_overlap=args.tile_overlap, max_memory=args.max_memory,
        compare=args.compare, video=video,
    )


def _run(args: argparse.Namespace) -> int:
    # Imported here: the model code is only needed for a real run, not for --help.
    from vsr.inference.checkpoint import load_model
    from vsr.inference.distributed import launched_team, rank_device
    from vsr.inference.folder import is_video_folder, upscale_folder
    from vsr.inference.runtime import resolve_device
    from vsr.inference.upscale import upscale_video

    options = options_from(args)
    folder = is_video_folder(Path(args.input))
    if folder and options.compare:
        raise InferenceError("--compare takes one video, not a folder of videos")
    team = launched_team()
    try:
        if team is not None and not options.video.segment_frames:
            raise InferenceError(
                "several processes share the work by segments: --segment-frames must be > 0"
            )
        device = resolve_device(rank_device(options.device, team))
        model = load_model(options.checkpoint, device)
        if folder:
            result = upscale_folder(args.input, args.output, options, model=model, team=team)
        else:
            result = upscale_video(args.input, args.output, options, model=model, team=team)
    except MemoryError:
        raise InferenceError(
            "out of memory; try a smaller --max-memory (or --tile 256) and --batch 1"
        ) from None
    except RuntimeError as exc:
        if "out of memory" not in str(exc):
            raise
        raise InferenceError(
            "out of GPU memory; try a smaller --max-memory (or --tile 256) and --batch 1"
        ) from None
    finally:
        if team is not None:
            team.close()
    if not args.quiet and (team is None or team.rank == 0):
        print(_summary(result), file=sys.stderr)
    return 0


def _summary(result) -> str:
    if hasattr(result, "skipped"):  # a folder of videos
        return (
            f"wrote {len(result.done)} videos to {result.output} ({result.frames} frames in "
            f"{result.seconds:.1f} s, {result.fps:.2f} fps); {len(result.skipped)} were "
            "already done"
        )
    resumed = f", {result.resumed} resumed from an earlier run" if result.resumed else ""
    return (
        f"wrote {result.output}: {result.frames} frames{resumed} in {result.seconds:.1f} s "
        f"({result.fps:.2f} fps)"
    )


if __name__ == "__main__":
    sys.exit(main())
