"""Inference: checkpoint loading, sliding-window and tiled upscaling, the ``vsr-upscale`` CLI.

Example::

    from vsr.inference import load_model, upscale_frames
    model = load_model("checkpoints/vsr_tiny.pt")
    hr = upscale_frames(model, lr_frames, scale=4)  # (T, H, W, 3) -> (T, 4H, 4W, 3) uint8

Names are imported on first use, so that the command line does not load the model code
(and the compiled operator) just to answer ``--help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vsr.inference.errors import CheckpointError, InferenceError

_LAZY = {
    "DEFAULT_CHECKPOINT": "vsr.inference.checkpoint",
    "load_model": "vsr.inference.checkpoint",
    "read_checkpoint": "vsr.inference.checkpoint",
    "save_model_file": "vsr.inference.checkpoint",
    "tiled_forward": "vsr.inference.tiling",
    "ModelProcessor": "vsr.inference.upscale",
    "upscale_frames": "vsr.inference.upscale",
    "upscale_video": "vsr.inference.upscale",
    "write_compare": "vsr.inference.upscale",
}

if TYPE_CHECKING:
    from vsr.inference.checkpoint import (
        DEFAULT_CHECKPOINT,
        load_model,
        read_checkpoint,
        save_model_file,
    )
    from vsr.inference.tiling import tiled_forward
    from vsr.inference.upscale import ModelProcessor, upscale_frames, upscale_video, write_compare


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vsr.inference' has no attribute {name!r}")


__all__ = [
    "DEFAULT_CHECKPOINT",
    "CheckpointError",
    "InferenceError",
    "ModelProcessor",
    "load_model",
    "read_checkpoint",
    "save_model_file",
    "tiled_forward",
    "upscale_frames",
    "upscale_video",
    "write_compare",
]
