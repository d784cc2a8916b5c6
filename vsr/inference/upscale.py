"""Upscaling with a model: the frame-window processor, the array API and the video API."""

from __future__ import annotations

import hashlib
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vsr.conditions import DEGRADATIONS
from vsr.inference.checkpoint import load_model
from vsr.inference.errors import InferenceError
from vsr.inference.memory import LinearCost, default_budget, measure_cost
from vsr.inference.options import UpscaleOptions
from vsr.inference.runtime import (
    DEFAULT_TILE_OVERLAP,
    autocast,
    keep_freed_memory,
    resolve_device,
    resolve_precision,
)
from vsr.inference.tiling import (
    GRID,
    Tile,
    TileSize,
    as_tile_size,
    assemble_tiles,
    needs_tiling,
    plan_tile,
    tile_grid,
    tiled_forward,
    work_ratio,
)
from vsr.models import FrameFeatures, to_channels_last
from vsr.video import (
    OpenCVBicubicProcessor,
    Team,
    TranscodeOptions,
    TranscodeResult,
    VideoError,
    transcode,
)
from vsr.video.panels import side_by_side
from vsr.video.pipeline import process_windows
from vsr.video.progress import FrameProgress
from vsr.video.reader import Frame, open_reader
from vsr.video.stream import sliding_windows

log = logging.getLogger("vsr.inference")

#: Estimated peaks are multiplied by this before they are compared with the budget.
ESTIMATE_MARGIN = 1.15
#: Input sizes of the two probe runs that measure the network's memory per pixel.
PROBE_SIZES = ((32, 32), (64, 64))


@dataclass(frozen=True)
class _NetworkCosts:
    """Peak bytes of the network's parts as functions of their input pixels."""

    whole: LinearCost  # the whole network on the windows
    extract: LinearCost  # extract_features of one frame
    restore: LinearCost  # restore of the windows from their frames' features
    kept_per_pixel: float  # bytes of one frame's features, per pixel
    # FLOPs per input pixel: one frame's features, one call's restore, the whole network.
    extract_flops: float
    restore_flops: float
    whole_flops: float


#: Costs measured per model (and device, precision, scale, windows per call), so processors
#: made for each clip of a long job do not probe again.
_MEASURED: weakref.WeakKeyDictionary[torch.nn.Module, dict[tuple, _NetworkCosts]] = (
    weakref.WeakKeyDictionary()
)


class ModelProcessor:
    """Run an EDVR on batches of temporal windows (a :class:`vsr.video.FrameProcessor`).

    Consecutive windows share all but one frame, so the per-frame part of the network
    (:meth:`vsr.models.EDVR.extract_features`) is computed once per frame, on the whole
    frame, and kept for the next windows (keyed by the frame's pixels, so it can never be
    mixed up with another frame's); the per-window part (:meth:`vsr.models.EDVR.restore`)
    runs tile by tile on crops of those features, so tiles reuse them too and equal the
    untiled result wherever the overlap covers the receptive field.

    ``tile="auto"`` picks the tiling from a memory budget (``max_memory``, default: a share
    of the memory free when the first frame arrives, see :mod:`vsr.inference.memory`). The
    peaks of the network's parts are measured on two small probe runs and extrapolated per
    pixel; kept features, the per-frame pass, a tile's run and the output frame must fit
    together. The other way is the whole network per tile (memory bounded by the tile
    alone, but every window recomputes its frames' features): of the two, the planner takes
    the one with less work (FLOPs, context overlap included) that fits.

    On the CPU the model's weights are switched to the channels-last memory format (the
    same values): oneDNN then runs every convolution in its native layout.

    Args:
        model: EDVR in eval mode, on ``device``.
        scale: upscaling factor (one of ``model.scales``).
        degradation: name from :data:`vsr.conditions.DEGRADATIONS`.
        strength: optional degradation strength in [0, 1].
        tile: ``"auto"``; a core size in input pixels, ``N`` or ``(height, width)``; or
            ``None``/``0`` for untiled. See :func:`vsr.inference.tiling.tiled_forward`.
        tile_overlap: context around each tile, input pixels.
        precision: ``fp32``, ``fp16`` or ``bf16`` (autocast).
        reuse_features: keep per-frame features between windows (off: every window runs
            the whole network, as a per-clip evaluation does).
        max_memory: budget in bytes for ``tile="auto"`` (None: the default budget).
    """

    def __init__(
        self, model: torch.nn.Module, scale: int = 4, degradation: str = "bicubic",
        strength: float | None = None, tile: int | tuple[int, int] | str | None = "auto",
        tile_overlap: int = DEFAULT_TILE_OVERLAP, precision: str = "fp32",
        reuse_features: bool = True, max_memory: int | None = None,
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
        if tile != "auto":
            try:
                tile = as_tile_size(tile)
            except (TypeError, ValueError):
                raise InferenceError(
                    f"--tile must be auto, 0 (untiled) or a positive number of pixels, got {tile}"
                ) from None
        if tile_overlap < 0:
            raise InferenceError(f"--tile-overlap must be >= 0, got {tile_overlap}")
        if max_memory is not None and max_memory <= 0:
            raise InferenceError(f"--max-memory must be positive, got {max_memory} bytes")
        self.model = model
        self.scale = scale
        self.num_frames = model.num_frames
        self.degradation = degradation
        self.strength = strength
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.precision = precision
        self.reuse_features = reuse_features
        self.max_memory = max_memory
        self.device = next(model.parameters()).device
        if self.device.type == "cpu":
            to_channels_last(model)  # oneDNN's fastest layout
        # Features of the frames of the last call, by frame bytes: the next windows'
        # frames are among them, except the new ones.
        self._features: dict[bytes, list[torch.Tensor]] = {}
        # The tiling chosen for a (windows, height, width) input: (tile size or None, reuse).
        self._plans: dict[tuple[int, int, int], tuple[TileSize | None, bool]] = {}
        self._out: torch.Tensor | None = None  # tiled calls write here (reused)

    def _strength(self, batch: int) -> torch.Tensor | None:
        if self.strength is None:
            return None
        return torch.full((batch,), self.strength, device=self.device)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The whole network on windows ``x`` (N, T, 3, h, w) (its ``forward``, in parts)."""
        return self._restore(self._extract(x.flatten(0, 1)), x[:, x.shape[1] // 2])

    def _extract(self, frames: torch.Tensor) -> FrameFeatures:
        with autocast(self.precision, self.device):
            return self.model.extract_features(frames)

    def _restore(self, features: FrameFeatures, centre: torch.Tensor) -> torch.Tensor:
        n = centre.shape[0]
        with autocast(self.precision, self.device):
            # One frame aligned at a time: the same result, a smaller working set (larger
            # tiles fit the same memory).
            out = self.model.restore(
                features, centre, self.scale, self.degradation, self._strength(n),
                frames_per_alignment=1,
            )
        return out.float()

    def _features_of(self, windows: np.ndarray, x: torch.Tensor) -> list[FrameFeatures]:
        """Per-frame features of the windows' frames (window-major), computed once per frame."""
        n, t = x.shape[:2]
        keys = [[windows[i, j].tobytes() for j in range(t)] for i in range(n)]
        order = [key for row in keys for key in row]
        # Forget frames no window of this call uses before computing new ones (memory).
        self._features = {key: f for key, f in self._features.items() if key in order}
        new = {}  # key -> (window, frame) of its first occurrence, in order
        for i, row in enumerate(keys):
            for j, key in enumerate(row):
                if key not in self._features and key not in new:
                    new[key] = (i, j)
        for key, (i, j) in new.items():  # one frame at a time: the smallest peak
            self._features[key] = self._extract(x[i, j][None])
        return [self._features[key] for key in order]

    def _restore_tile(
        self, frame_features: list[FrameFeatures], centre: torch.Tensor, tile: Tile | None
    ) -> torch.Tensor:
        """:meth:`restore` on a tile's context (None: the whole frame).

        Each frame's features are cropped and gathered into the batch here, so no copy of
        whole frames' features is ever made.
        """
        padded_h, padded_w = frame_features[0].size  # padded to a multiple of 4
        cy0, cy1, cx0, cx1 = tile.context if tile else (0, padded_h, 0, padded_w)
        # Context ends inside the frame lie on the grid, except at the frame's edge, where
        # the features extend to the padded size just as untiled.
        fy1, fx1 = min(-(-cy1 // GRID) * GRID, padded_h), min(-(-cx1 // GRID) * GRID, padded_w)
        batch = FrameFeatures.cat([f.crop(cy0, fy1, cx0, fx1) for f in frame_features])
        return self._restore(batch, centre[..., cy0:cy1, cx0:cx1])

    def _plan(self, n: int, h: int, w: int) -> tuple[TileSize | None, bool]:
        """(tile size or None, reuse features) for ``n`` windows of ``h`` x ``w`` frames."""
        if (n, h, w) not in self._plans:
            if self.tile != "auto":
                plan = (self.tile, self.reuse_features)
            else:
                plan = self._plan_for_budget(n, h, w)
            log.info("tiling for %dx%d, %d window(s): tile %s, per-frame features %s",
                     w, h, n, plan[0] or "none (untiled)", "reused" if plan[1] else "per tile")
            self._plans[(n, h, w)] = plan
        return self._plans[(n, h, w)]

    def _plan_for_budget(self, n: int, h: int, w: int) -> tuple[TileSize | None, bool]:
        if h * w <= PROBE_SIZES[-1][0] * PROBE_SIZES[-1][1]:
            # No larger than the probe: measuring would take as much memory as running it.
            return None, self.reuse_features
        budget = self.max_memory or default_budget(self.device)
        overlap, costs = self.tile_overlap, self._costs(n)
        plans = []  # (estimated FLOPs per call, tile, reuse)
        for reuse in (True, False) if self.reuse_features else (False,):
            try:
                tile = plan_tile(h, w, overlap, lambda ch, cw, reuse=reuse: self.estimate_peak(
                    n, h, w, (ch, cw), reuse) <= budget)
            except ValueError:
                continue  # not even a small tile fits this way
            area = h * w * work_ratio(h, w, tile, overlap)
            if reuse:
                work = costs.extract_flops * h * w + costs.restore_flops * area
            else:
                work = costs.whole_flops * area
            plans.append((work, tile, reuse))
        if not plans:
            need = self.estimate_peak(n, h, w, (16 + 2 * overlap,) * 2, False) / 2**30
            raise InferenceError(
                f"--max-memory {budget / 2**30:.2f} GB is too small for {w}x{h} frames at "
                f"x{self.scale}: even the smallest tile needs about {need:.2f} GB; raise "
                "--max-memory"
            )
        # Kept features save work, but may force small tiles whose context costs more.
        _, tile, reuse = min(plans, key=lambda plan: plan[0])
        return tile, reuse

    def estimate_peak(
        self, n: int, h: int, w: int, context: tuple[int, int], reuse: bool
    ) -> int:
        """Estimated peak bytes of a call on ``n`` windows of ``h`` x ``w`` frames whose
        tiles see ``context`` = (height, width) input pixels, with or without kept features.

        Includes a margin for what the linear fit of two probes misses (padding to the
        pyramid's grid, pooling sizes, the allocator's rounding, oneDNN's scratch).
        """
        t, s, costs = self.num_frames, self.scale, self._costs(n)
        # The windows in float32, and the upscaled frames: the float32 result, its uint8
        # copy and the array handed on.
        fixed = n * t * 3 * h * w * 4 + n * 3 * s * s * h * w * (4 + 1 + 1)
        pixels = context[0] * context[1]
        if not reuse:
            return int(ESTIMATE_MARGIN * (fixed + costs.whole(pixels)))
        padded = -(-h // GRID) * GRID * (-(-w // GRID) * GRID)
        # Kept: the features of this call's frames plus one arriving, and the whole-frame
        # pass that computes a new frame's.
        kept = costs.kept_per_pixel * padded * (t + n) + costs.extract(padded)
        return int(ESTIMATE_MARGIN * (fixed + kept + costs.restore(pixels)))

    def _costs(self, n: int) -> _NetworkCosts:
        """Measured memory of the network's parts for ``n`` windows (once per model)."""
        key = (str(self.device), self.precision, self.scale, n)
        known = _MEASURED.setdefault(self.model, {})
        if key in known:
            return known[key]
        t = self.num_frames

        def frames(h: int, w: int, count: int) -> torch.Tensor:
            return torch.rand(count, 3, h, w, device=self.device)

        with torch.inference_mode():
            whole = measure_cost(
                lambda h, w: self._forward(frames(h, w, n * t).view(n, t, 3, h, w)), PROBE_SIZES
            )
            extract = measure_cost(lambda h, w: self._extract(frames(h, w, 1)), PROBE_SIZES)
            (h, w) = PROBE_SIZES[0]
            kept_per_pixel = self._extract(frames(h, w, 1)).nbytes / (h * w)
            restore = measure_cost(lambda h, w: self._restore(
                self._extract(frames(h, w, 1)).map(lambda f: f.repeat(n * t, 1, 1, 1)),
                frames(h, w, n),
            ), PROBE_SIZES)
            # FLOPs grow with the pixels exactly (convolutions): one count per part.
            with FlopCounterMode(display=False) as counted:
                features = self._extract(frames(h, w, 1))
            extract_flops = counted.get_total_flops() / (h * w)
            with FlopCounterMode(display=False) as counted:
                self._restore(features.map(lambda f: f.repeat(n * t, 1, 1, 1)), frames(h, w, n))
            restore_flops = counted.get_total_flops() / (h * w)
        known[key] = _NetworkCosts(
            whole, extract, restore, kept_per_pixel,
            extract_flops=extract_flops, restore_flops=restore_flops,
            whole_flops=restore_flops + n * t * extract_flops,
        )
        return known[key]

    @torch.inference_mode()
    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """(N, T, H, W, 3) uint8 RGB -> (N, scale*H, scale*W, 3) uint8 RGB."""
        x = torch.from_numpy(np.ascontiguousarray(windows)).to(self.device, non_blocking=True)
        x = x.permute(0, 1, 4, 2, 3).float().div_(255.0)  # (N, T, 3, H, W) in [0, 1]
        n, _, _, h, w = x.shape
        tile, reuse = self._plan(n, h, w)
        if needs_tiling(tile, h, w):
            # Tiles are written into one frame buffer, kept for the next call.
            shape = (n, 3, self.scale * h, self.scale * w)
            if self._out is None or self._out.shape != shape:
                self._out = None  # a new size: free the old buffer before the new one is made
                self._out = torch.empty(shape, device=self.device)
        if reuse:
            features = self._features_of(windows, x)
            centre = x[:, self.num_frames // 2]
            if needs_tiling(tile, h, w):
                tiles = tile_grid(h, w, tile, self.tile_overlap)
                y = assemble_tiles(lambda t: self._restore_tile(features, centre, t), tiles,
                                   (n, 3, h, w), self.scale, self._out)
            else:
                y = self._restore_tile(features, centre, None)
        else:
            self._features = {}
            y = tiled_forward(self._forward, x, self.scale, tile, self.tile_overlap, self._out)
        y = y.clamp_(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
        return y.permute(0, 2, 3, 1).cpu().numpy()

    def __repr__(self) -> str:
        return (
            f"ModelProcessor(scale={self.scale}, degradation={self.degradation!r}, "
            f"tile={self.tile}, precision={self.precision!r}, device={self.device})"
        )


def upscale_frames(
    model: torch.nn.Module, frames: np.ndarray, scale: int = 4, degradation: str = "bicubic",
    *, strength: float | None = None, tile: int | tuple[int, int] | str | None = "auto",
    tile_overlap: int = DEFAULT_TILE_OVERLAP, batch: int = 1, precision: str = "auto",
    padding: str = "reflect", max_memory: int | None = None,
    only: Sequence[int] | None = None,
) -> np.ndarray:
    """Upscale a clip held in memory.

    Each output frame comes from the window of ``model.num_frames`` frames centred on it,
    padded at the clip ends like ``vsr.data``'s validation windows (``padding``: ``reflect``
    mirrors frames 1, 2, ... before frame 0; ``replicate`` repeats the edge frame).

    Args:
        model: EDVR (e.g. from :func:`load_model`), any device.
        frames: ``(T, H, W, 3)`` uint8 RGB.
        scale, degradation, strength: the conditions the network is asked for.
        tile, tile_overlap, max_memory: tiling (see :class:`ModelProcessor`).
        batch: windows per forward pass.
        precision: ``auto`` (bf16 where the hardware runs it natively, else fp16 on CUDA and
            fp32 on the CPU), ``fp32``, ``fp16``, ``bf16``.
        padding: ``reflect`` (default) or ``replicate``.
        only: indices of the output frames to compute (default: all), e.g. the centre frame
            of a Vimeo-90K septuplet, which is all its benchmark scores: the other windows
            are never run.

    Returns:
        ``(T, scale*H, scale*W, 3)`` uint8 RGB, or ``(len(only), ...)`` in ``only``'s order.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InferenceError(
            f"frames must be a (T, H, W, 3) uint8 RGB array, got {frames.shape} {frames.dtype}"
        )
    device = next(model.parameters()).device
    processor = ModelProcessor(
        model, scale, degradation, strength, tile, tile_overlap,
        resolve_precision(precision, device), max_memory=max_memory,
    )
    wanted = range(len(frames)) if only is None else [int(i) for i in only]
    outside = [i for i in wanted if not 0 <= i < len(frames)]
    if outside:
        raise InferenceError(
            f"only= asks for frames {outside} of a {len(frames)}-frame clip; give indices "
            f"from 0 to {len(frames) - 1}"
        )
    wanted_set = set(wanted)
    items = (Frame(image, i, i) for i, image in enumerate(frames))
    windows = sliding_windows(items, processor.num_frames, padding)
    windows = (w for w in windows if w[len(w) // 2].index in wanted_set)
    by_index = {frame.index: image for frame, image in process_windows(windows, processor, batch)}
    if not wanted:
        return np.empty((0, scale * frames.shape[1], scale * frames.shape[2], 3), np.uint8)
    return np.stack([by_index[i] for i in wanted])


def upscale_video(
    input: str | Path,
    output: str | Path,
    options: UpscaleOptions | None = None,
    *,
    model: torch.nn.Module | None = None,
    team: Team | None = None,
    progress: FrameProgress | None = None,
    **changes,
) -> TranscodeResult:
    """Upscale a video file or a folder of frames with a checkpoint; see ``vsr-upscale -h``.

    Streams the input (only a window of frames in memory), keeps timestamps, audio,
    subtitles and metadata (:func:`vsr.video.transcode`), works in resumable segments
    shared by ``team`` (unless ``segment_frames=0``), and optionally writes a side-by-side
    ``compare`` PNG (bicubic | model) of the middle frame.

    Args:
        options: the job's options; ``changes`` override single ones by name, of
            :class:`UpscaleOptions` or of its ``video`` (``upscale_video(a, b, scale=2,
            end=3.0)``).
        model: an already loaded model (then ``checkpoint`` and ``device`` are ignored).
        team: the processes sharing the job (default: this one alone).
        progress: a bar over a larger job to advance instead of one for this clip.

    Raises:
        VideoError, InferenceError: a one-line, user-facing problem.
    """
    options = (options or UpscaleOptions()).updated(**changes)
    video = options.video
    if video.batch < 1:
        raise InferenceError(f"--batch must be >= 1, got {video.batch}")
    if model is None:
        model = load_model(options.checkpoint, resolve_device(options.device))
    dev = next(model.parameters()).device
    if dev.type == "cpu":
        keep_freed_memory()
    precision = resolve_precision(options.precision, dev)
    processor = ModelProcessor(
        model, options.scale, options.degradation, options.strength, options.tile,
        options.tile_overlap, precision, max_memory=options.max_memory,
    )
    # A resumed job must be made by the same network under the same conditions.
    identity = {
        "model": weights_fingerprint(model), "device": dev.type, "precision": precision,
        "degradation": options.degradation, "strength": options.strength,
        "tile": list(options.tile) if isinstance(options.tile, tuple) else options.tile,
        "tile_overlap": options.tile_overlap, "max_memory": options.max_memory,
    }
    video = replace(video, description=f"x{options.scale} {Path(input).name}")
    result = transcode(input, output, processor, video, team=team, identity=identity,
                       progress=progress)
    if options.compare is not None and (team is None or team.rank == 0):
        write_compare(input, options.compare, processor, result.frames // 2, video)
    return result


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A hash of a model's weights and buffers (what a job's manifest records)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        # As raw bytes, whatever the dtype (bf16 has no NumPy type) or memory format.
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        digest.update(raw.numpy().tobytes())
    return digest.hexdigest()


def write_compare(
    input: str | Path, path: str | Path, processor: ModelProcessor, index: int,
    options: TranscodeOptions | None = None,
) -> Path:
    """Write a PNG with bicubic (left) and ``processor`` (right) for frame ``index``.

    The input is read again up to that frame (streaming), so nothing is kept from the
    main run.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise VideoError(f"--compare needs a .png file name, got {path}")
    options = options or TranscodeOptions()
    reader = open_reader(input, options.start, options.end, options.fps)
    padding = options.padding
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
    base = OpenCVBicubicProcessor(processor.scale)(stack)[0]
    side = side_by_side([base, model_out], ["bicubic (OpenCV)", "model"])
    if not cv2.imwrite(str(path), np.ascontiguousarray(side[..., ::-1])):
        raise VideoError(f"cannot write {path}")
    return path
