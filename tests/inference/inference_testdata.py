"""Shared helpers for the inference tests: a tiny random EDVR saved in the agreed format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def video(name: str) -> Path:
    path = DATA / "videos" / name
    if not path.exists():
        pytest.skip(f"test video {path} is absent (../shared/data is not checked out here)")
    return path


def tiny_model(seed: int = 0, residual_gain: float = 1.0) -> torch.nn.Module:
    """``build_edvr("tiny")`` with seeded random weights, in eval mode.

    ``residual_gain`` scales the last convolution of every upsampling head: with random
    weights the learned residual is ~0.01/255 (the output is almost the bicubic base),
    which would hide tiling or windowing mistakes; a gain of 30 makes it ~75/255.
    """
    from vsr.models import build_edvr

    torch.manual_seed(seed)
    model = build_edvr("tiny").eval()
    with torch.no_grad():
        for head in model.heads.values():
            head.conv_last.weight.mul_(residual_gain)
            head.conv_last.bias.mul_(residual_gain)
    return model
