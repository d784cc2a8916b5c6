"""``make demo``: a sample clip made on the spot, degraded, upscaled by the shipped weights.

Nothing is downloaded. The clip is a simulated camera pan over one of the photos that
scikit-image ships inside its wheel (``astronaut`` by default): a window moves over the photo
along a smooth path with sub-pixel steps, so neighbouring frames hold genuinely new samples
of the scene, as in real footage, and the video network has motion to align. Then:

1. the pan is the ground truth (PNG frames);
2. it is degraded with the project's own pipeline (x4 MATLAB bicubic by default) and stored
   as an H.264 video (lossless 4:4:4, so the demo measures the network, not the codec);
3. that video is upscaled through the real ``vsr-upscale`` command (its ``main``);
4. a side-by-side PNG (bicubic | model | ground truth) of the middle frame is written and the
   mean PSNR on BT.601 Y of bicubic and of the model against the ground truth is printed.

Everything goes to ``outputs/demo/`` (git-ignored). Run it with ``make demo`` or
``python scripts/demo.py --help``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vsr.command import run_command
from vsr.conditions import DEGRADATIONS, SCALES
from vsr.errors import UserError
from vsr.video.panels import side_by_side

#: Photos of ``skimage.data`` that load from the wheel itself (no pooch download) in colour.
SAMPLE_IMAGES: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket")
#: Lossless H.264 (crf 0 in 8-bit x264) with full chroma: the clip keeps the degraded pixels.
LOSSLESS = {"crf": 0, "pix_fmt": "yuv444p"}


@dataclass(frozen=True)
class DemoResult:
    """What the demo wrote and measured.

    Attributes:
        psnr_bicubic, psnr_model: mean PSNR (dB, BT.601 Y, no border crop) over all frames.
        ground_truth: folder of the HR frames; lr_video, output_video: the mp4 files;
        compare: the side-by-side PNG; frames: clip length; seconds: upscaling wall time.
    """

    psnr_bicubic: float
    psnr_model: float
    ground_truth: Path
    lr_video: Path
    output_video: Path
    compare: Path
    frames: int
    seconds: float


def sample_image(name: str) -> np.ndarray:
    """One of :data:`SAMPLE_IMAGES` as ``(H, W, 3)`` uint8 RGB.

    Raises:
        ValueError: the name is not one of them; RuntimeError: scikit-image is missing.
    """
    if name not in SAMPLE_IMAGES:
        choices = ", ".join(SAMPLE_IMAGES)
        raise UserError(f"unknown sample image {name!r}: expected one of {choices}")
    try:
        import skimage.data  # lazy: only the demo needs scikit-image
    except ImportError as exc:
        raise RuntimeError(
            f"the demo's sample photos come from scikit-image, which is not installed ({exc}); "
            "install it with: pip install scikit-image"
        ) from None
    image = np.asarray(getattr(skimage.data, name)())
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def pan_path(
    num_frames: int, start: tuple[float, float], end: tuple[float, float]
) -> np.ndarray:
    """Top-left corners ``(T, 2)`` as (x, y) of a pan that eases in and out.

    A cosine ease keeps the speed smooth (no jerk at the ends), like a camera operator's pan;
    the steps are fractions of a pixel, so frames are not shifted copies of each other.
    """
    t = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.zeros(1)
    ease = (1.0 - np.cos(np.pi * t)) / 2.0
    a, b = np.asarray(start, np.float64), np.asarray(end, np.float64)
    return a + ease[:, None] * (b - a)


def pan_clip(image: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop a ``size`` = (width, height) window at each sub-pixel corner of ``image``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, the scene.
        corners: ``(T, 2)`` window top-left corners (x, y) in image pixels (may be fractional).
        size: (width, height) of the frames.

    Returns:
        ``(T, height, width, 3)`` uint8: frame ``t`` samples ``image`` at ``p + corners[t]``
        (Lanczos interpolation; integer corners give exact crops).

    Raises:
        ValueError: a window leaves the image.
    """
    width, height = size
    h, w = image.shape[:2]
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    if lo.min() < 0 or hi[0] + width > w or hi[1] + height > h:
        raise UserError(
            f"a {width}x{height} pan between corners {lo.tolist()} and {hi.tolist()} leaves the "
            f"{w}x{h} image: use smaller frames or a shorter pan"
        )
    frames = []
    for x, y in corners:
        shift = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]])
        frames.append(
            cv2.warpAffine(image, shift, (width, height), flags=cv2.INTER_LANCZOS4)
        )
    return np.stack(frames)


def make_clip(image: np.ndarray, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """A diagonal pan over ``image``, from its upper left towards its middle.

    The window starts a quarter of the free room from the left and a tenth from the top
    (the face in ``astronaut``) and travels 35 % of the room in each axis: at 24 frames of
    256x192 that is about 4 pixels per frame, 1 pixel per frame after x4 downscaling.

    Returns:
        ``(num_frames, height, width, 3)`` uint8 RGB.
    """
    width, height = size
    room = np.array([image.shape[1] - width, image.shape[0] - height], np.float64)
    if (room < 0).any():
        raise UserError(
            f"{width}x{height} frames do not fit in the {image.shape[1]}x{image.shape[0]} photo"
        )
    start = room * np.array([0.25, 0.10])
    end = room * np.array([0.60, 0.45])
    return pan_clip(image, pan_path(num_frames, tuple(start), tuple(end)), size)


def write_frames(folder: Path, frames: np.ndarray) -> list[Path]:
    """Write ``(T, H, W, 3)`` uint8 RGB frames as ``folder/00000.png ...`` (replacing it)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"{i:05d}.png"
        if not cv2.imwrite(str(path), np.ascontiguousarray(frame[..., ::-1])):
            raise OSError(f"could not write {path}")
        paths.append(path)
    return paths


class _Identity:
    """A :class:`vsr.video.FrameProcessor` that returns the centre frame (encodes a clip)."""

    num_frames = 1
    scale = 1

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return windows[:, windows.shape[1] // 2]


def encode_video(frames: np.ndarray, path: Path, fps: float = 25.0) -> Path:
    """Encode ``(T, H, W, 3)`` uint8 RGB as a lossless H.264 4:4:4 file with :mod:`vsr.video`."""
    from vsr.video import transcode  # lazy: PyAV is only needed for a real run

    with tempfile.TemporaryDirectory(prefix="vsr-demo-") as tmp:
        write_frames(Path(tmp) / "frames", frames)
        transcode(Path(tmp) / "frames", path, _Identity(), fps=fps, overwrite=True, **LOSSLESS)
    return path


def read_video(path: Path) -> np.ndarray:
    """All frames of a video file as ``(T, H, W, 3)`` uint8 RGB (through :mod:`vsr.video`)."""
    from vsr.video import open_reader

    reader = open_reader(path)
    try:
        return np.stack([frame.image for frame in reader.frames()])
    finally:
        reader.close()


def mean_psnr_y(outputs: np.ndarray, truth: np.ndarray) -> float:
    """Mean over frames of PSNR on BT.601 Y (VSR papers' convention), no border crop."""
    from vsr.metrics import psnr

    return float(np.mean([psnr(o, t, y_channel=True) for o, t in zip(outputs, truth, strict=True)]))


def run_demo(
    output_dir: str | Path = "outputs/demo",
    checkpoint: str | Path | None = None,
    image: str = "astronaut",
    num_frames: int = 24,
    size: tuple[int, int] = (256, 192),
    scale: int = 4,
    degradation: str = "bicubic",
    quiet: bool = False,
) -> DemoResult:
    """Make the clip, degrade it, upscale it with ``vsr-upscale``, measure and compare.

    Args:
        output_dir: where everything is written (created; earlier demo files are replaced).
        checkpoint: exported ``.pt`` weights; None for the shipped ``checkpoints/vsr_tiny.pt``.
        image: one of :data:`SAMPLE_IMAGES`.
        num_frames: clip length.
        size: (width, height) of the ground-truth frames, multiples of ``scale``.
        scale, degradation: how the low-resolution clip is made (and what the network is told).
        quiet: no progress bar from ``vsr-upscale``.

    Raises:
        ValueError: bad arguments; vsr.inference.CheckpointError: missing or foreign weights;
        RuntimeError: ``vsr-upscale`` failed (its message was printed).
    """
    from vsr.data.degradations import degrade, imresize_clip
    from vsr.inference import read_checkpoint
    from vsr.inference.cli import main as upscale_main

    if scale not in SCALES or degradation not in DEGRADATIONS:
        raise UserError(f"scale must be one of {SCALES} and degradation one of {DEGRADATIONS}")
    if size[0] % scale or size[1] % scale:
        raise UserError(f"frame size {size[0]}x{size[1]} must be a multiple of the scale {scale}")
    read_checkpoint(checkpoint)  # fail before any work when the weights are missing
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)

    truth = make_clip(sample_image(image), num_frames, size)
    gt_dir = out / "ground_truth"
    write_frames(gt_dir, truth)
    low, _ = degrade(truth, scale, degradation, seed=0)
    lr_video = encode_video(low, out / f"input_x{scale}.mp4")

    output_video = out / f"upscaled_x{scale}.mp4"
    argv = [str(lr_video), str(output_video), "--scale", str(scale), "--degradation",
            degradation, "--crf", str(LOSSLESS["crf"]), "--pix-fmt", LOSSLESS["pix_fmt"],
            "--overwrite"] + (["--checkpoint", str(checkpoint)] if checkpoint else [])
    if quiet:
        argv.append("--quiet")
    else:
        print("$ vsr-upscale " + " ".join(argv), flush=True)
    started = time.perf_counter()
    if upscale_main(argv) != 0:
        raise RuntimeError("vsr-upscale failed (see the message above)")
    seconds = time.perf_counter() - started

    # Score what a user gets: the decoded files, with the bicubic baseline made from the
    # same decoded low-resolution clip the network saw.
    model_frames = read_video(output_video)
    bicubic_frames = imresize_clip(read_video(lr_video), float(scale))
    mid = len(truth) // 2
    compare = out / "compare.png"
    from vsr.video.png import save_png

    panels = [bicubic_frames[mid], model_frames[mid], truth[mid]]
    save_png(compare, side_by_side(panels, ["bicubic", "model", "ground truth"]))
    return DemoResult(
        psnr_bicubic=mean_psnr_y(bicubic_frames, truth),
        psnr_model=mean_psnr_y(model_frames, truth),
        ground_truth=gt_dir,
        lr_video=lr_video,
        output_video=output_video,
        compare=compare,
        frames=len(truth),
        seconds=seconds,
    )


def build_parser() -> argparse.ArgumentParser:
    """Options of ``scripts/demo.py``."""
    p = argparse.ArgumentParser(
        prog="vsr-demo",
        description="Make a short clip from a photo scikit-image ships (a simulated camera pan), "
        "degrade it, upscale it with vsr-upscale and the shipped weights, and print PSNR (Y) "
        "of bicubic and of the model against the ground truth.",
    )
    p.add_argument("--output-dir", type=Path, default=Path("outputs/demo"),
                   help="where the clip, videos and PNG go (default: %(default)s)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="exported .pt weights (default: the shipped checkpoints/vsr_tiny.pt)")
    p.add_argument("--image", choices=SAMPLE_IMAGES, default="astronaut",
                   help="photo to pan over (default: %(default)s)")
    p.add_argument("--frames", type=int, default=24, help="clip length (default: %(default)s)")
    p.add_argument("--width", type=int, default=256, help="ground-truth width (default: 256)")
    p.add_argument("--height", type=int, default=192, help="ground-truth height (default: 192)")
    p.add_argument("--scale", type=int, choices=SCALES, default=4, help="(default: 4)")
    p.add_argument("--degradation", choices=DEGRADATIONS, default="bicubic",
                   help="how the low-resolution clip is made (default: bicubic, i.e. BI)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns the exit status (see :mod:`vsr.command`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error(f"--frames must be >= 1, got {args.frames}")
    return run_command("vsr-demo", lambda: _demo(args))


def _demo(args: argparse.Namespace) -> int:
    from vsr.errors import CheckpointError

    try:
        result = run_demo(
            args.output_dir, args.checkpoint, args.image, args.frames,
            (args.width, args.height), args.scale, args.degradation, args.quiet,
        )
    except CheckpointError as exc:
        raise CheckpointError(
            f"{exc}. The demo needs trained weights: a clone of the repository ships them as "
            "checkpoints/vsr_tiny.pt; or train and export your own (see checkpoints/README.md) "
            "and pass --checkpoint PATH."
        ) from None
    gain = result.psnr_model - result.psnr_bicubic
    print(f"clip:          {result.frames} frames, ground truth in {result.ground_truth}/")
    print(f"input video:   {result.lr_video}  (x{args.scale} {args.degradation})")
    print(f"output video:  {result.output_video}  ({result.seconds:.1f} s, "
          f"{result.frames / max(result.seconds, 1e-9):.2f} frames/s)")
    print(f"side by side:  {result.compare}  (bicubic | model | ground truth)")
    print(f"PSNR (Y) bicubic: {result.psnr_bicubic:.2f} dB")
    print(f"PSNR (Y) model:   {result.psnr_model:.2f} dB  ({gain:+.2f} dB)")
    return 0
