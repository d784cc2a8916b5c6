"""Functional deformable convolution on top of `torch.ops.vsr.deform_conv2d`.

The C++/CUDA kernels register the forward and backward operators; this module registers
their autograd formula and their fake (shape-only) implementations with `torch.library`,
so the operator works with autograd, `torch.compile` and `torch.library.opcheck`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.modules.utils import _pair
from torch.utils.flop_counter import register_flop_formula

from vsr.ops import _extension  # noqa: F401  (loads the kernels, or raises ImportError)

__all__ = ["deform_conv2d"]


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = (1, 1),
    padding: int | tuple[int, int] = (0, 0),
    dilation: int | tuple[int, int] = (1, 1),
    mask: Tensor | None = None,
) -> Tensor:
    """Deformable convolution (DCNv1, or modulated DCNv2 when ``mask`` is given).

    A drop-in for :func:`torchvision.ops.deform_conv2d`: the same arguments, layout and
    results. Weight groups are ``C_in // weight.shape[1]``; offset groups are
    ``offset.shape[1] // (2 * kh * kw)``.

    Args:
        input: ``(N, C_in, H, W)``.
        offset: ``(N, 2 * offset_groups * kh * kw, H_out, W_out)``; for offset group ``g``
            and kernel tap ``k`` (row-major), channels ``2(gK + k)`` and ``2(gK + k) + 1`` are
            the y and x displacements in pixels.
        weight: ``(C_out, C_in // groups, kh, kw)``.
        bias: ``(C_out,)`` or None.
        stride, padding, dilation: ints or ``(h, w)`` pairs.
        mask: ``(N, offset_groups * kh * kw, H_out, W_out)`` modulation, or None (DCNv1).

    Returns:
        ``(N, C_out, H_out, W_out)``.

    Example:
        >>> x = torch.rand(1, 4, 8, 8)
        >>> w = torch.rand(6, 4, 3, 3)
        >>> offset = torch.zeros(1, 18, 6, 6)
        >>> torch.allclose(deform_conv2d(x, offset, w), torch.nn.functional.conv2d(x, w),
        ...                atol=1e-5)
        True
    """
    stride_h, stride_w = _pair(stride)
    pad_h, pad_w = _pair(padding)
    dil_h, dil_w = _pair(dilation)
    return torch.ops.vsr.deform_conv2d(
        input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w
    )


def _output_size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


@torch.library.register_fake("vsr::deform_conv2d")
def _deform_conv2d_fake(
    input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w
):
    torch._check(input.dim() == 4, lambda: f"deform_conv2d: input must be 4-D, got {input.dim()}")
    out_h = _output_size(input.shape[2], weight.shape[2], stride_h, pad_h, dil_h)
    out_w = _output_size(input.shape[3], weight.shape[3], stride_w, pad_w, dil_w)
    return input.new_empty((input.shape[0], weight.shape[0], out_h, out_w))


@torch.library.register_fake("vsr::_deform_conv2d_backward")
def _deform_conv2d_backward_fake(
    grad_output, input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w
):
    # One mask channel per (offset group, tap), i.e. half the offset channels.
    mask_shape = (input.shape[0], offset.shape[1] // 2, offset.shape[2], offset.shape[3])
    return (
        torch.empty_like(input),
        torch.empty_like(weight),
        torch.empty_like(offset),
        input.new_empty(mask_shape),
        input.new_empty((weight.shape[0],)),
    )


def _setup_context(ctx, inputs, output) -> None:
    input, weight, offset, mask, bias, *conv_args = inputs
    ctx.save_for_backward(input, weight, offset, mask, bias)
    ctx.conv_args = conv_args
    ctx.has_mask = mask is not None
    ctx.has_bias = bias is not None


def _backward(ctx, grad_output):
    input, weight, offset, mask, bias = ctx.saved_tensors
    grad_input, grad_weight, grad_offset, grad_mask, grad_bias = (
        torch.ops.vsr._deform_conv2d_backward(
            grad_output, input, weight, offset, mask, bias, *ctx.conv_args
        )
    )
    return (
        grad_input,
        grad_weight,
        grad_offset,
        grad_mask if ctx.has_mask else None,
        grad_bias if ctx.has_bias else None,
        *([None] * len(ctx.conv_args)),
    )


torch.library.register_autograd("vsr::deform_conv2d", _backward, setup_context=_setup_context)


@register_flop_formula(torch.ops.vsr.deform_conv2d)
def _deform_conv2d_flops(
    input_shape, weight_shape, offset_shape, mask_shape, bias_shape, *args, out_shape=None,
    **kwargs,
) -> int:
    """FLOPs for :class:`torch.utils.flop_counter.FlopCounterMode`, counted as for conv2d.

    The convolution proper (2 per multiply-add of the column GEMM) plus the bilinear samples
    that fill the columns (4 neighbours, a multiply-add each, and the mask multiply).
    """
    batch, out_channels, out_h, out_w = out_shape
    in_per_group, kh, kw = weight_shape[1:]
    in_channels = input_shape[1]
    positions = batch * out_h * out_w
    gemm = 2 * positions * out_channels * in_per_group * kh * kw
    sampling = positions * in_channels * kh * kw * (8 + (mask_shape is not None))
    return gemm + sampling
