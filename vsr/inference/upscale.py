"""Upscaling with a model: the frame-window processor, the array API and the video API."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from vsr.conditions import DEGRADATIONS
from vsr.inference.checkpoint import load_model
from vsr.inference.errors import InferenceError
from vsr.inference.runtime import (
    DEFAULT_TILE_OVERLAP,
    autocast,
    resolve_device,
    resolve_precision,
)
from vsr.inference.tiling import needs_tiling, tiled_forward
from vsr.video import BicubicProcessor, TranscodeResult, VideoError, process_frames, transcode
from vsr.video.reader import Frame, open_reader
from vsr.video.stream import sliding_windows


class ModelProcessor:
    """Run an EDVR on batches of temporal windows (a :class:`vsr.video.FrameProcessor`).

    Consecutive windows share all but one frame, so the per-frame part of the network
    (:meth:`vsr.models.EDVR.extract_features`) is computed once per frame and kept for the
    next call (keyed by the frame's pixels, so it can never be mixed up with another
    frame's), and only the per-window part runs per window. The kept features cost memory
    (the shipped model at 360x640: peak 2.9 GB instead of 2.5 GB); tiled inference, whose
    point is bounded memory, runs the whole network per tile and window. On the CPU the
    model's weights are switched to the channels-last memory format (the same values):
    oneDNN then runs every convolution in its native layout instead of converting each
    input and output.

    Args:
        model: EDVR in eval mode, on ``device``.
        scale: upscaling factor (one of ``model.scales``).
        degradation: name from :data:`vsr.conditions.DEGRADATIONS`.
        strength: optional degradation strength in [0, 1].
        tile, tile_overlap: tiled inference (see :func:`vsr.inference.tiling.tiled_forward`).
        precision: ``fp32``, ``fp16`` or ``bf16`` (autocast on CUDA).
        reuse_features: keep per-frame features between windows (off: every window runs
            the whole network, as a per-clip evaluation does).
    """

    def __init__(
        self, model: torch.nn.Module, scale: int = 4, degradation: str = "bicubic",
        strength: float | None = None, tile: int | None = None,
        tile_overlap: int = DEFAULT_TILE_OVERLAP, precision: str = "fp32",
        reuse_features: bool = True,
    ):
        if scale not in model.scales:
            raise InferenceError(
                f"--scale {scale} is not served by this model (it serves "
                f"{', '.join(f'x{s}' for s in model.scales)})"
            )
        if degradation not in DEGRADATIONS:
            raise InferenceError(
                f"unknown --degradation {degradation!r}: expected one of {', '.join(DEGRADATIONS)}"
            )
        if tile is not None and tile < 1:
            raise InferenceError(f"--tile must be a positive number of pixels, got {tile}")
        if tile_overlap < 0:
            raise InferenceError(f"--tile-overlap must be >= 0, got {tile_overlap}")
        self.model = model
        self.scale = scale
        self.num_frames = model.num_frames
        self.degradation = degradation
        self.strength = strength
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.precision = precision
        self.reuse_features = reuse_features
        self.device = next(model.parameters()).device
        if self.device.type == "cpu":
            _to_channels_last(model)
        # Features of the frames of the last call, by frame bytes: the next windows'
        # frames are among them, except the new ones.
        self._features: dict[bytes, list[torch.Tensor]] = {}

    def _strength(self, batch: int) -> torch.Tensor | None:
        if self.strength is None:
            return None
        return torch.full((batch,), self.strength, device=self.device)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.precision, self.device):
            return self.model(x, self.scale, self.degradation, self._strength(x.shape[0])).float()

    def _forward_reusing(self, windows: np.ndarray, x: torch.Tensor) -> torch.Tensor:
        """The network on ``x`` (N, T, 3, H, W), per-frame features computed once per frame."""
        n, t = x.shape[:2]
        keys = [[windows[i, j].tobytes() for j in range(t)] for i in range(n)]
        new = {}  # key -> (window, frame) of its first occurrence, in order
        for i, row in enumerate(keys):
            for j, key in enumerate(row):
                if key not in self._features and key not in new:
                    new[key] = (i, j)
        with autocast(self.precision, self.device):
            if new:
                fresh = self.model.extract_features(torch.stack([x[i, j] for i, j in new.values()]))
                for k, key in enumerate(new):
                    self._features[key] = [f[k : k + 1] for f in fresh]
            order = [key for row in keys for key in row]
            features = [
                torch.cat([self._features[key][level] for key in order]) for level in range(6)
            ]
            out = self.model.restore(
                features, x[:, t // 2], self.scale, self.degradation, self._strength(n)
            )
        self._features = {key: self._features[key] for key in order}
        return out.float()

    @torch.inference_mode()
    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """(N, T, H, W, 3) uint8 RGB -> (N, scale*H, scale*W, 3) uint8 RGB."""
        x = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device, non_blocking=True)
        x = x.permute(0, 1, 4, 2, 3).float().div_(255.0)  # (N, T, 3, H, W) in [0, 1]
        if self.reuse_features and not needs_tiling(self.tile, *x.shape[-2:]):
            y = self._forward_reusing(windows, x)
        else:
            y = tiled_forward(self._forward, x, self.scale, self.tile, self.tile_overlap)
        y = y.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        return y.permute(0, 2, 3, 1).cpu().numpy()

    def __repr__(self) -> str:
        return (
            f"ModelProcessor(scale={self.scale}, degradation={self.degradation!r}, "
            f"tile={self.tile}, precision={self.precision!r}, device={self.device})"
        )


def _to_channels_last(model: torch.nn.Module) -> None:
    """Store every 4-D weight channels-last, in place (kernel banks, 5-D, stay as they are)."""
    for param in model.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)


def upscale_frames(
    model: torch.nn.Module, frames: np.ndarray, scale: int = 4, degradation: str = "bicubic",
    *, strength: float | None = None, tile: int | None = None,
    tile_overlap: int = DEFAULT_TILE_OVERLAP, batch: int = 1, precision: str = "auto",
    padding: str = "reflect",
) -> np.ndarray:
    """Upscale a clip held in memory.

    Each output frame comes from the window of ``model.num_frames`` frames centred on it,
    padded at the clip ends like ``vsr.data``'s validation windows (``padding``: ``reflect``
    mirrors frames 1, 2, ... before frame 0; ``replicate`` repeats the edge frame).

    Args:
        model: EDVR (e.g. from :func:`load_model`), any device.
        frames: ``(T, H, W, 3)`` uint8 RGB.
        scale, degradation, strength: the conditions the network is asked for.
        tile, tile_overlap: tiled inference for large frames.
        batch: windows per forward pass.
        precision: ``auto`` (fp32 on CPU, bf16/fp16 on CUDA), ``fp32``, ``fp16``, ``bf16``.
        padding: ``reflect`` (default) or ``replicate``.

    Returns:
        ``(T, scale*H, scale*W, 3)`` uint8 RGB.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InferenceError(
            f"frames must be a (T, H, W, 3) uint8 RGB array, got {frames.shape} {frames.dtype}"
        )
    device = next(model.parameters()).device
    processor = ModelProcessor(
        model, scale, degradation, strength, tile, tile_overlap,
        resolve_precision(precision, device),
    )
    items = (Frame(image, i, i) for i, image in enumerate(frames))
    out = [image for _, image in process_frames(items, processor, batch, padding)]
    if not out:
        return np.empty((0, scale * frames.shape[1], scale * frames.shape[2], 3), np.uint8)
    return np.stack(out)


def upscale_video(
    input: str | Path,
    output: str | Path,
    *,
    checkpoint: str | Path | None = None,
    model: torch.nn.Module | None = None,
    scale: int = 4,
    degradation: str = "bicubic",
    strength: float | None = None,
    device: str = "auto",
    precision: str = "auto",
    tile: int | None = None,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
    batch: int = 1,
    padding: str = "reflect",
    codec: str | None = None,
    crf: int = 18,
    pix_fmt: str | None = None,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
    overwrite: bool = False,
    compare: str | Path | None = None,
    quiet: bool = True,
) -> TranscodeResult:
    """Upscale a video file or a folder of frames with a checkpoint; see ``vsr-upscale -h``.

    Streams the input (only a window of frames in memory), keeps timestamps, audio,
    subtitles and metadata (:func:`vsr.video.transcode`), and optionally writes a
    side-by-side ``compare`` PNG (bicubic | model) of the middle frame.

    Args:
        model: an already loaded model (then ``checkpoint`` and ``device`` are ignored).
        Other arguments: as the command-line options of the same names.

    Raises:
        VideoError, InferenceError: a one-line, user-facing problem.
    """
    if batch < 1:
        raise InferenceError(f"--batch must be >= 1, got {batch}")
    if model is None:
        model = load_model(checkpoint, resolve_device(device))
    dev = next(model.parameters()).device
    processor = ModelProcessor(
        model, scale, degradation, strength, tile, tile_overlap, resolve_precision(precision, dev)
    )
    result = transcode(
        input, output, processor, codec=codec, crf=crf, pix_fmt=pix_fmt, start=start, end=end,
        fps=fps, batch=batch, padding=padding, overwrite=overwrite, quiet=quiet,
        description=f"x{scale} {Path(input).name}",
    )
    if compare is not None:
        write_compare(
            input, compare, processor, result.frames // 2, start, end, fps, padding
        )
    return result


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner (white on a dark box), on a copy."""
    out = np.ascontiguousarray(image).copy()
    size = max(out.shape[0] / 720, 0.4)
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size, 1)
    cv2.rectangle(out, (0, 0), (w + 8, h + 10), (0, 0, 0), -1)
    cv2.putText(out, text, (4, h + 4), cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def write_compare(
    input: str | Path, path: str | Path, processor: ModelProcessor, index: int,
    start: float | None = None, end: float | None = None, fps: float | None = None,
    padding: str = "reflect",
) -> Path:
    """Write a PNG with bicubic (left) and ``processor`` (right) for frame ``index``.

    The input is read again up to that frame (streaming), so nothing is kept from the
    main run.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise VideoError(f"--compare needs a .png file name, got {path}")
    reader = open_reader(input, start, end, fps)
    try:
        for i, window in enumerate(sliding_windows(reader.frames(), processor.num_frames, padding)):
            if i == index:
                stack = np.stack([[f.image for f in window]])
                break
        else:
            raise VideoError(f"{input}: frame {index} for --compare not found")
    finally:
        reader.close()
    model_out = processor(stack)[0]
    base = BicubicProcessor(processor.scale)(stack)[0]
    side = np.concatenate([_label(base, "bicubic"), _label(model_out, "model")], axis=1)
    if not cv2.imwrite(str(path), np.ascontiguousarray(side[..., ::-1])):
        raise VideoError(f"cannot write {path}")
    return path
