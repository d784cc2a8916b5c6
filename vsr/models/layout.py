"""Memory layout of a network's weights."""

from __future__ import annotations

import torch
from torch import nn


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store every 4-D weight channels-last (NHWC), in place; returns ``model``.

    A convolution whose weight is channels-last computes, and returns, channels-last
    activations, which the next layers take as they are: oneDNN's (CPU) and cuDNN's native
    layout, which ``vsr-upscale`` uses on the CPU. The values are the same; only the strides
    change. Parameters keep their identity, so an optimiser built before or after sees the
    same tensors. (The kernel banks of the dynamic convolutions are 5-D and stay as they are.)
    """
    for param in model.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)
    return model
