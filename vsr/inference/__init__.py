"""Inference: checkpoint loading, sliding-window and tiled upscaling, the ``vsr-upscale`` CLI.

Example::

    from vsr.inference import load_model, upscale_frames
    model = load_model("checkpoints/vsr_tiny.pt")
    hr = upscale_frames(model, lr_frames, scale=4)  # (T, H, W, 3) -> (T, 4H, 4W, 3) uint8
"""

from vsr.inference.checkpoint import (
    DEFAULT_CHECKPOINT,
    load_model,
    read_checkpoint,
    save_model_file,
)
from vsr.inference.errors import CheckpointError, InferenceError
from vsr.inference.tiling import tiled_forward
from vsr.inference.upscale import ModelProcessor, upscale_frames, upscale_video, write_compare

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
