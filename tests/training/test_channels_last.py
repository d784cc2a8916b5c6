"""Channels-last training (``module.channels_last``, off by default): the same network values
and gradients as NCHW, with weights, activations and gradients stored NHWC."""

from __future__ import annotations

import copy
import functools

import torch

from vsr.models import build_edvr
from vsr.training import PixelLoss, VSRLitModule


def _module(model: torch.nn.Module, channels_last: bool) -> VSRLitModule:
    return VSRLitModule(
        model, optimizer=functools.partial(torch.optim.Adam, lr=1e-3), lpips=False, seed=None,
        loss=PixelLoss("charbonnier"), channels_last=channels_last,
    )


def _batch() -> dict:
    g = torch.Generator().manual_seed(3)
    return {
        "lr": torch.rand(2, 5, 3, 12, 16, generator=g),
        "hr": torch.rand(2, 3, 24, 32, generator=g),
        "scale": torch.tensor([2, 2]),
        "degradation": torch.tensor([0, 2]),
        "strength": torch.tensor([0.0, 0.5]),
    }


def test_channels_last_gives_the_same_loss_and_gradients() -> None:
    torch.manual_seed(0)
    model = build_edvr("tiny", trunk_conv="cond_dynamic", scales=(2, 3, 4))
    nchw = _module(copy.deepcopy(model), channels_last=False)
    nhwc = _module(model, channels_last=True)
    conv = nhwc.model.conv_first
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not nchw.model.conv_first.weight.is_contiguous(memory_format=torch.channels_last)
    assert nhwc.model is model  # converted in place: parameters keep their identity

    seen = []
    conv.register_forward_hook(lambda mod, args, out: seen.append(out))
    losses = {}
    for name, module in (("nchw", nchw), ("nhwc", nhwc)):
        batch = _batch()
        loss = module.loss(module(batch), batch["hr"])
        loss.backward()
        losses[name] = loss.detach()
    # The activations follow the weights' layout.
    assert seen[0].is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(losses["nhwc"], losses["nchw"], rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(nchw.model.named_parameters(), nhwc.model.parameters(), strict=True):
        if a.grad is None:  # the heads of the other scales
            assert b.grad is None, name
            continue
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-6, msg=name)
        if b.dim() == 4:
            assert b.grad.is_contiguous(memory_format=torch.channels_last), name


def test_off_leaves_the_weights_as_they_are() -> None:
    model = build_edvr("tiny", trunk_conv="static", scales=(2,))
    _module(model, channels_last=False)
    assert all(p.is_contiguous() for p in model.parameters())
