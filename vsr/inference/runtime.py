"""Device, precision and thread choices for inference."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from vsr.inference.errors import InferenceError

if TYPE_CHECKING:  # torch is imported where used, so ``vsr-upscale --help`` answers at once
    import torch

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
#: Default context around each tile, in input pixels (see ``tiling.tiled_forward``): the
#: tiny preset's output stops changing (< 0.01/255) at 16 even with a strongly amplified
#: residual; larger presets may want 24-32.
DEFAULT_TILE_OVERLAP = 16


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU. Asking for CUDA without one is an error."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device not in DEVICES and not device.startswith("cuda:"):
        raise InferenceError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InferenceError("--device cuda was requested but no CUDA GPU is available; use cpu")
    if device == "cpu":
        # All cores this process may use: PyTorch's default can be lower inside containers
        # and job schedulers (the affinity mask is what the scheduler actually grants).
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        torch.set_num_threads(cores or os.cpu_count() or 1)
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 on GPUs that support it, else fp16 on CUDA; always fp32 on the CPU.

    Half precision on the CPU is slower than fp32 in PyTorch, so it is refused there.
    """
    import torch

    if precision not in PRECISIONS:
        raise InferenceError(
            f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
        )
    if device.type != "cuda":
        if precision in ("fp16", "bf16"):
            raise InferenceError(f"--precision {precision} needs --device cuda; the CPU runs fp32")
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """Mixed-precision context for the forward pass (weights stay fp32)."""
    import torch

    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    if precision in dtypes and device.type == "cuda":
        return torch.autocast("cuda", dtype=dtypes[precision])
    return nullcontext()
