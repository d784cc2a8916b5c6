"""trainer.precision=auto: bf16 where the hardware has it, fp32 on CPUs that would emulate it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tests.helpers import SHRINK, compose_train
from vsr.training import build
from vsr.training import precision as precision_module
from vsr.training.precision import training_precision


@pytest.fixture(params=[True, False], ids=["native_bf16", "emulated_bf16"])
def native_bf16(request, monkeypatch) -> bool:
    """A CPU with bf16 in hardware, or one with no bf16 instructions at all."""
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: request.param)
    return request.param


def test_auto_on_the_cpu_follows_the_hardware(native_bf16: bool) -> None:
    expected = "bf16-mixed" if native_bf16 else "32-true"
    assert training_precision("auto", "cpu") == expected


def test_auto_on_a_gpu_is_bf16_where_the_gpu_has_it(monkeypatch) -> None:
    for supported, expected in ((True, "bf16-mixed"), (False, "16-mixed")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, s=supported, **k: s)
        assert training_precision("auto", "gpu") == expected


def test_explicit_values_are_kept_and_emulated_bf16_is_warned_about(native_bf16: bool,
                                                                     caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="vsr.training.precision"):
        assert training_precision("32-true", "cpu") == "32-true"
        assert not caplog.records
        assert training_precision("bf16-mixed", "cpu") == "bf16-mixed"
    warned = [r.getMessage() for r in caplog.records]
    if native_bf16:
        assert not warned
    else:
        assert len(warned) == 1 and "trains 10-20 times slower than fp32" in warned[0]
        assert "trainer.precision=auto picks 32-true here" in warned[0]


def test_the_trainer_is_built_with_the_resolved_precision(native_bf16: bool, frames_root: Path,
                                                          tmp_path: Path) -> None:
    cfg = compose_train(["experiment=release_tiny_v2", f"data.root={frames_root}",
                         f"val_root={frames_root}", *SHRINK], tmp_path)
    assert cfg.trainer.precision == "auto"  # the release recipe runs on any CPU
    _, _, trainer = build(cfg)
    assert trainer.precision == ("bf16-mixed" if native_bf16 else "32-true")
