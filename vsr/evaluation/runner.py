"""Scoring clips: produce the LR input, upscale it, measure PSNR / SSIM / LPIPS per frame.

Averages follow the papers: the mean over the scored frames of each clip first, then the
mean of the clip means (so a long clip does not weigh more than a short one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vsr.evaluation.datasets import EvalClip
from vsr.evaluation.errors import EvaluationError
from vsr.evaluation.upscalers import Upscaler, matlab_bicubic_upscaler
from vsr.metrics import LPIPS, psnr, ssim
from vsr.video.panels import side_by_side
from vsr.video.png import save_png

#: Frames per LPIPS forward pass (keeps GPU memory bounded on 720p clips).
LPIPS_CHUNK = 4


@dataclass(frozen=True)
class Protocol:
    """How frames are produced and scored.

    Attributes:
        scale: upscaling factor.
        degradation: how LR frames are made from the ground truth (when no LR tree is given).
        y_channel: PSNR/SSIM on BT.601 Y instead of RGB (LPIPS always sees RGB).
        crop_border: pixels removed from each side before every metric.
        seed: seed of random degradations (noise, compression strength).
        degrade_options: keyword arguments of :func:`vsr.data.degradations.degrade` that
            replace its defaults, e.g. ``(("crf", 28),)`` for a fixed x264 CRF instead of one
            drawn from ``seed``.
    """

    scale: int
    degradation: str
    y_channel: bool
    crop_border: int
    seed: int = 0
    degrade_options: tuple[tuple[str, object], ...] = ()


@dataclass
class ClipScores:
    """Per-frame scores of one clip; ``lpips`` is None when LPIPS is not computed."""

    name: str
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    lpips: list[float] | None = None

    def means(self) -> dict[str, float | int | None]:
        """{"psnr", "ssim", "lpips" (None if unavailable), "frames"} for this clip."""
        return {
            "psnr": float(np.mean(self.psnr)),
            "ssim": float(np.mean(self.ssim)),
            "lpips": float(np.mean(self.lpips)) if self.lpips else None,
            "frames": len(self.psnr),
        }


def average_over_clips(results: Sequence[ClipScores]) -> dict[str, float | None]:
    """Mean of the per-clip means; LPIPS None unless every clip has it."""
    means = [r.means() for r in results]
    out: dict[str, float | None] = {
        "psnr": float(np.mean([m["psnr"] for m in means])),
        "ssim": float(np.mean([m["ssim"] for m in means])),
    }
    lp = [m["lpips"] for m in means]
    out["lpips"] = float(np.mean(lp)) if lp and all(v is not None for v in lp) else None
    return out


def load_pair(clip: EvalClip, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and LR input of a clip.

    Degradations with a random strength (noise, compression) draw it from ``protocol.seed``,
    so every clip gets the same strength and reruns give the same numbers. The method is not
    told the strength (as when upscaling a real video).

    Returns:
        ``(gt, lr)``: gt (T, H, W, 3) uint8 cropped to ``scale`` times the LR size;
        lr (T, H/s, W/s, 3) uint8.
    """
    from vsr.data.degradations import degrade, modcrop  # lazy: see upscalers

    gt = clip.gt.read_all()
    s = protocol.scale
    if clip.lr is None:
        lr, _ = degrade(gt, s, protocol.degradation, seed=protocol.seed,
                        **dict(protocol.degrade_options))
        return modcrop(gt, s), lr
    lr = clip.lr.read_all()
    h, w = lr.shape[1] * s, lr.shape[2] * s
    if gt.shape[1] < h or gt.shape[2] < w:
        raise EvaluationError(
            f"clip {clip.name}: LR frames {lr.shape[2]}x{lr.shape[1]} times scale {s} exceed the "
            f"ground truth {gt.shape[2]}x{gt.shape[1]}; is --scale right for {clip.lr.paths[0]}?"
        )
    return gt[:, :h, :w], lr


def _crop(x: np.ndarray, border: int) -> np.ndarray:
    return x[..., border:-border, border:-border, :] if border else x


def _lpips_scores(metric: LPIPS, sr: np.ndarray, gt: np.ndarray) -> list[float]:
    """LPIPS of (N, H, W, 3) uint8 frame pairs, in chunks."""
    scores: list[float] = []

    def to_tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float() / 255.0

    with torch.no_grad():
        for i in range(0, len(sr), LPIPS_CHUNK):
            d = metric(to_tensor(sr[i : i + LPIPS_CHUNK]), to_tensor(gt[i : i + LPIPS_CHUNK]))
            scores.extend(float(v) for v in d.cpu())
    return scores


def evaluate_clip(
    clip: EvalClip,
    upscaler: Upscaler,
    protocol: Protocol,
    lpips_metric: LPIPS | None = None,
    crop_path: Path | None = None,
    crop_size: int = 160,
    crop_with_output: bool = True,
    on_frame: Callable[[], None] | None = None,
) -> ClipScores:
    """Upscale one clip and score its scored frames.

    Args:
        clip: the clip.
        upscaler: (LR clip, indices of the scored frames) -> those frames upscaled (see
            :mod:`vsr.evaluation.upscalers`).
        protocol: scale, degradation and metric conventions.
        lpips_metric: LPIPS model, or None to skip LPIPS.
        crop_path: if given, write a bicubic | output | ground-truth crop of the middle scored
            frame there.
        crop_size: side of that crop in HR pixels.
        crop_with_output: include the method's output panel (False for the bicubic method,
            whose output is the bicubic panel).
        on_frame: called once per scored frame (progress reporting).
    """
    gt, lr = load_pair(clip, protocol)
    scored = list(clip.scored)
    gt = gt[scored]
    # Only the scored frames are upscaled (each still sees its neighbours in ``lr``).
    sr = np.asarray(upscaler(lr, scored))
    if sr.shape != gt.shape or sr.dtype != np.uint8:
        raise ValueError(
            f"clip {clip.name}: the method returned {sr.shape} {sr.dtype}, expected the ground "
            f"truth's {gt.shape} uint8"
        )
    scores = ClipScores(clip.name)
    kw = {"crop_border": protocol.crop_border, "y_channel": protocol.y_channel}
    for out, truth in zip(sr, gt, strict=True):
        scores.psnr.append(psnr(out, truth, **kw))
        scores.ssim.append(ssim(out, truth, **kw))
        if on_frame is not None:
            on_frame()
    if lpips_metric is not None:
        b = protocol.crop_border
        scores.lpips = _lpips_scores(lpips_metric, _crop(sr, b), _crop(gt, b))
    if crop_path is not None:
        k = len(scored) // 2  # the middle scored frame
        bicubic = matlab_bicubic_upscaler(protocol.scale)(lr, [scored[k]])[0]
        panels = [bicubic, sr[k], gt[k]] if crop_with_output else [bicubic, gt[k]]
        save_png(crop_path, side_by_side(panels, crop=crop_size))
    return scores
