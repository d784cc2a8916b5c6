"""The methods ``vsr-eval`` compares: the bicubic baseline and a trained checkpoint.

An upscaler maps a low-resolution clip ``(T, h, w, 3)`` uint8 and the indices of the frames
to produce (those scored) to those frames upscaled, ``(len(indices), s*h, s*w, 3)`` uint8: a
benchmark that scores one frame of seven (Vimeo-90K-T) then costs one window, not seven.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Upscaler = Callable[[np.ndarray, Sequence[int]], np.ndarray]


def matlab_bicubic_upscaler(scale: int) -> Upscaler:
    """The "Bicubic" row of VSR tables: MATLAB bicubic ``imresize`` of the LR frames by ``scale``.

    The published Vid4 x4 baselines (23.78 dB BI, 21.80 dB BD, Y channel) are this
    interpolation of the BI / BD low-resolution frames, scored with the Y convention; using
    the same MATLAB-compatible kernel (antialiasing only applies when shrinking) and rounding
    to uint8 is what makes our numbers comparable with them.
    """
    from vsr.data.degradations import imresize_clip  # lazy: data code is heavier to import

    def upscale(lr: np.ndarray, indices: Sequence[int]) -> np.ndarray:
        return imresize_clip(lr[list(indices)], float(scale))

    return upscale


def model_upscaler(
    checkpoint: str | Path,
    scale: int,
    degradation: str,
    device: str,
    precision: str = "fp32",
    tile: int | None = None,
) -> Upscaler:
    """A trained network loaded with :func:`vsr.inference.load_model`.

    Args:
        checkpoint: exported ``.pt`` file.
        scale: upscaling factor the network is asked for.
        degradation: the degradation name the network is conditioned on.
        device: torch device string.
        precision: ``fp32`` (default, reproducible), or ``auto``/``fp16``/``bf16``.
        tile: tile size in LR pixels for frames too big for memory (None: whole frames).
    """
    from vsr import inference  # lazy: the bicubic baseline needs no model code

    model = inference.load_model(checkpoint, device=device)

    def upscale(lr: np.ndarray, indices: Sequence[int]) -> np.ndarray:
        out = inference.upscale_frames(
            model, lr, scale, degradation, precision=precision, tile=tile, only=indices
        )
        return np.asarray(out)

    return upscale
