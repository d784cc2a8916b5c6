"""The learning-rate schedule (warm-up, restarts) and the DCN offset parameter group."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR

from vsr.models import build_edvr
from vsr.ops import DCNv2Pack
from vsr.training import VSRLitModule, WarmupCosineRestarts, parameter_groups


def test_warmup_then_cosine_cycles_with_restarts() -> None:
    f = WarmupCosineRestarts(
        periods=[4, 8], restart_weights=[1.0, 0.5], min_factor=0.1, warmup_steps=2
    )
    # Warm-up: (i + 1) / 2.
    assert [f(0), f(1)] == [0.5, 1.0]
    # Cycle 1 starts at step 2: 0.1 + 0.9 * (1 + cos(pi * t / 4)) / 2.
    for t in range(4):
        assert f(2 + t) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2)
    # Restart at step 6 to weight 0.5, then anneal over 8 steps.
    assert f.restarts() == [2, 6]
    assert f(6) == pytest.approx(0.5)
    assert f(10) == pytest.approx(0.1 + 0.4 * 0.5)  # half-way: cos(pi/2) = 0
    assert f(14) == pytest.approx(0.1) and f(1000) == pytest.approx(0.1)  # after the last cycle


def test_schedule_rejects_mismatched_weights() -> None:
    with pytest.raises(ValueError, match="restart_weights"):
        WarmupCosineRestarts(periods=[10, 10], restart_weights=[1.0])


def test_offset_group_holds_exactly_the_dcn_offset_branches() -> None:
    model = build_edvr("tiny", trunk_conv="static", scales=(4,))
    groups = parameter_groups(model, offset_lr_mult=0.25)
    dcns = [m for m in model.modules() if isinstance(m, DCNv2Pack)]
    assert len(dcns) == 4  # three pyramid levels plus the cascade
    expected = {id(p) for m in dcns for p in m.conv_offset.parameters()}
    assert {id(p) for p in groups[1]["params"]} == expected
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    # The DCN's main weight is not an offset parameter.
    assert id(dcns[0].weight) not in expected


def test_lambda_lr_keeps_the_offset_multiplier_at_every_step() -> None:
    model = build_edvr("tiny", trunk_conv="static", scales=(4,))
    schedule = WarmupCosineRestarts(periods=[3, 3], warmup_steps=2, min_factor=0.0)
    module = VSRLitModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=4e-4, betas=(0.9, 0.99)),
        scheduler=functools.partial(LambdaLR, lr_lambda=schedule),
        offset_lr_mult=0.1,
    )
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "step"
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)
    for step in range(9):
        main, offsets = (g["lr"] for g in opt.param_groups)
        assert main == pytest.approx(4e-4 * schedule(step), abs=1e-15)
        assert offsets == pytest.approx(4e-5 * schedule(step), abs=1e-15)
        opt.step()
        sched.step()
    # Restart points: full rate again at steps 2 and 5.
    assert schedule(2) == schedule(5) == 1.0
