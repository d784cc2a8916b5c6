"""Adaptive convolutions against an independent per-sample float64 reference."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from vsr.nn import (
    CondDynamicConv2d,
    ConditionEmbedding,
    DynamicConv2d,
    DynamicFilterConv2d,
    batched_conv2d,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _loop_reference(
    x: torch.Tensor, kernels: list[torch.Tensor], biases: list, layer
) -> torch.Tensor:
    """Slow reference: one float64 conv2d per sample with that sample's kernel."""
    outs = [
        F.conv2d(
            x[i : i + 1].double(),
            kernels[i].double(),
            None if biases[i] is None else biases[i].double(),
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
        )
        for i in range(x.shape[0])
    ]
    return torch.cat(outs).float()


def _randomise(module: nn.Module) -> None:
    """Give every parameter (also zero-initialised ones) a random value."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.3)


@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2)])
def test_batched_conv2d_matches_loop(stride: int, dilation: int) -> None:
    x = torch.randn(3, 4, 9, 7)
    w = torch.randn(3, 5, 4, 3, 3)
    b = torch.randn(3, 5)
    got = batched_conv2d(x, w, b, stride=stride, padding=dilation, dilation=dilation)
    for i in range(3):
        ref = F.conv2d(x[i : i + 1], w[i], b[i], stride=stride, padding=dilation, dilation=dilation)
        torch.testing.assert_close(got[i : i + 1], ref, rtol=1e-5, atol=1e-5)


def test_batched_conv2d_rejects_wrong_kernel_shape() -> None:
    with pytest.raises(ValueError, match="per-sample weight"):
        batched_conv2d(torch.randn(2, 4, 5, 5), torch.randn(3, 5, 4, 3, 3), None)


def test_dynamic_conv_matches_per_sample_loop() -> None:
    layer = DynamicConv2d(6, 5, 3, num_experts=3, temperature=2.0)
    _randomise(layer)
    x = torch.randn(4, 6, 8, 7)
    got = layer(x)
    kernels, biases = [], []
    for i in range(4):
        logits = layer.attention(x[i].mean(dim=(1, 2)))
        alpha = torch.softmax(logits.double() / 2.0, dim=0)
        kernels.append(sum(alpha[m] * layer.weight[m].double() for m in range(3)))
        biases.append(sum(alpha[m] * layer.bias[m].double() for m in range(3)))
    torch.testing.assert_close(
        got, _loop_reference(x, kernels, biases, layer), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("use_content", [False, True])
def test_cond_dynamic_conv_matches_per_sample_loop(use_content: bool) -> None:
    layer = CondDynamicConv2d(4, 6, 3, stride=2, cond_dim=5, num_experts=4, use_content=use_content)
    _randomise(layer)
    x, cond = torch.randn(3, 4, 9, 9), torch.randn(3, 5)
    got = layer(x, cond)
    kernels, biases = [], []
    for i in range(3):
        logits = cond[i].double() @ layer.router.weight.double().T + layer.router.bias.double()
        if use_content:
            gap = x[i].double().mean(dim=(1, 2))
            cr = layer.content_router
            logits = logits + gap @ cr.weight.double().T + cr.bias.double()
        alpha = torch.softmax(logits, dim=0)
        kernels.append(torch.einsum("m,mocij->ocij", alpha, layer.weight.double()))
        biases.append(alpha @ layer.bias.double())
    torch.testing.assert_close(
        got, _loop_reference(x, kernels, biases, layer), rtol=1e-4, atol=1e-4
    )


def test_dynamic_filter_matches_hand_written_modulation() -> None:
    layer = DynamicFilterConv2d(4, 3, 3, dilation=2)
    _randomise(layer)
    x = torch.randn(2, 4, 10, 11)
    got = layer(x)
    kernels, biases = [], []
    for i in range(2):
        gains = layer.generator(x[i : i + 1].mean(dim=(2, 3)))[0].double()
        a, g, s = gains[:3], gains[3:7], gains[7:].reshape(3, 3)
        k = torch.empty(3, 4, 3, 3, dtype=torch.float64)
        for o in range(3):
            for c in range(4):
                k[o, c] = layer.weight[o, c].double() * (1 + a[o]) * (1 + g[c]) * (1 + s)
        kernels.append(k)
        biases.append(layer.bias)
    torch.testing.assert_close(
        got, _loop_reference(x, kernels, biases, layer), rtol=1e-4, atol=1e-4
    )


def _plain_conv_like(layer, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    conv = nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


@pytest.mark.parametrize(
    "make",
    [
        lambda: DynamicConv2d(5, 7, 3, num_experts=1, temperature=3.0),
        lambda: CondDynamicConv2d(5, 7, 3, stride=2, cond_dim=4, num_experts=1, use_content=True),
        lambda: DynamicFilterConv2d(5, 7, 3, dilation=2, generate=False),
    ],
    ids=["dynamic-1-expert", "cond-dynamic-1-expert", "dynamic-filter-off"],
)
def test_degenerate_case_equals_conv2d(make) -> None:
    layer = make()
    _randomise(layer)
    weight = layer.weight.reshape(layer.out_channels, layer.in_channels, 3, 3)
    conv = _plain_conv_like(layer, weight, layer.bias.reshape(-1))
    x = torch.randn(3, 5, 11, 8)
    torch.testing.assert_close(layer(x, torch.randn(3, 4)), conv(x), rtol=1e-5, atol=1e-5)


def test_dynamic_filter_starts_as_its_base_conv() -> None:
    layer = DynamicFilterConv2d(5, 7, 3)  # generator's last layer is zero-initialised
    conv = _plain_conv_like(layer, layer.weight, layer.bias)
    x = torch.randn(2, 5, 6, 6)
    torch.testing.assert_close(layer(x), conv(x), rtol=1e-5, atol=1e-5)


def test_per_sample_conditions_in_one_batch() -> None:
    emb = ConditionEmbedding(dim=8)
    layer = CondDynamicConv2d(4, 4, 3, cond_dim=8, num_experts=4)
    _randomise(emb)
    _randomise(layer)
    x = torch.randn(2, 4, 7, 7)
    cond = emb(torch.tensor([2, 4]), torch.tensor([1, 2]), torch.tensor([0.3, 0.8]))
    both = layer(x, cond)
    alone0 = layer(x[:1], emb(2, "blur", torch.tensor([0.3])))
    alone1 = layer(x[1:], emb(4, "noise", torch.tensor([0.8])))
    torch.testing.assert_close(both, torch.cat([alone0, alone1]), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(alone0, layer(x[:1], emb(4, "noise", torch.tensor([0.8]))))


@pytest.mark.parametrize("kind", ["dynamic", "cond"])
def test_gradients_reach_every_expert(kind: str) -> None:
    if kind == "dynamic":
        layer = DynamicConv2d(4, 4, 3, num_experts=5)
    else:
        layer = CondDynamicConv2d(4, 4, 3, cond_dim=3, num_experts=5, use_content=True)
    x = torch.randn(2, 4, 6, 6)
    layer(x, torch.randn(2, 3)).square().sum().backward()
    per_expert = layer.weight.grad.abs().flatten(1).sum(dim=1)
    assert per_expert.shape == (5,) and bool((per_expert > 0).all())
    routers = [layer.attention[0]] if kind == "dynamic" else [layer.router, layer.content_router]
    for r in routers:
        assert r.weight.grad is not None and r.weight.grad.abs().sum() > 0


def test_temperature_flattens_routing() -> None:
    layer = DynamicConv2d(4, 4, 3, num_experts=4)
    _randomise(layer)
    with torch.no_grad():
        layer.attention[-1].weight.mul_(20)  # sharp logits
    x = torch.randn(3, 4, 5, 5)
    layer.set_temperature(1e3)
    hot = layer.routing(x)
    torch.testing.assert_close(hot, torch.full_like(hot, 0.25), rtol=0, atol=1e-2)
    layer.set_temperature(1e-3)
    cold = layer.routing(x)
    torch.testing.assert_close(cold.max(dim=1).values, torch.ones(3), rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="temperature"):
        layer.set_temperature(0.0)


def test_cond_dynamic_without_condition_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="needs a condition"):
        CondDynamicConv2d(4, 4, 3, cond_dim=3)(torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="cond must have shape"):
        CondDynamicConv2d(4, 4, 3, cond_dim=3)(torch.randn(1, 4, 5, 5), torch.randn(1, 2))


def test_kernel_bank_forward_mixes_the_routing_it_reports_and_stores_nothing() -> None:
    from vsr.nn._batched import mix_experts

    layer = CondDynamicConv2d(4, 6, 3, cond_dim=8, num_experts=3, use_content=True)
    _randomise(layer)
    x, cond = torch.randn(2, 4, 7, 7), torch.randn(2, 8)
    before = dict(vars(layer))
    out = layer(x, cond)
    assert vars(layer).keys() == before.keys()  # nothing written on the module
    weight, bias = mix_experts(layer.routing(x, cond), layer.weight, layer.bias)
    want = torch.cat([
        torch.nn.functional.conv2d(x[i : i + 1], weight[i], bias[i], padding=1) for i in range(2)
    ])
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
