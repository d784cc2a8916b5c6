"""Adaptive convolutions sharing ``forward(x, cond=None)``, and the condition embedding."""

from vsr.nn._batched import batched_conv2d, mix_experts
from vsr.nn.condition import ConditionEmbedding
from vsr.nn.dynamic_conv import CondDynamicConv2d, DynamicConv2d, KernelBankConv2d
from vsr.nn.dynamic_filter import DynamicFilterConv2d

__all__ = [
    "CondDynamicConv2d",
    "ConditionEmbedding",
    "DynamicConv2d",
    "DynamicFilterConv2d",
    "KernelBankConv2d",
    "batched_conv2d",
    "mix_experts",
]
