"""Anneal the routing temperature of the kernel-bank (dynamic) convolutions.

``softmax(logits / T)`` with a large T mixes all experts almost equally, so every expert
receives gradient early on; annealing T to 1 then lets the routing become selective
(DyNet / dynamic convolution training recipe).
"""

from __future__ import annotations

import math
from typing import Any

from lightning import Callback, LightningModule, Trainer


def temperature_at(step: int, start: float, end: float, steps: int, mode: str = "linear") -> float:
    """Temperature after ``step`` optimiser steps: ``start`` at 0, ``end`` from ``steps`` on.

    ``mode`` is ``linear`` or ``cosine`` (a half cosine from start to end).
    """
    if steps <= 0 or step >= steps:
        return float(end)
    frac = step / steps
    if mode == "cosine":
        frac = 0.5 * (1.0 - math.cos(math.pi * frac))
    elif mode != "linear":
        raise ValueError(f"unknown temperature schedule {mode!r}: expected linear or cosine")
    return float(start + (end - start) * frac)


class TemperatureSchedule(Callback):
    """Sets ``model.set_temperature(T(step))`` before every training step; logs
    ``train/temperature``. Depends only on the global step, so resuming is exact; the model
    keeps the final temperature (``end``, normally 1, the value an exported model uses).

    Args:
        start: initial temperature (e.g. 30).
        end: final temperature (1: the plain softmax).
        steps: annealing length in optimiser steps.
        mode: ``linear`` or ``cosine``.
    """

    def __init__(
        self, start: float = 30.0, end: float = 1.0, steps: int = 10000, mode: str = "linear"
    ) -> None:
        if start <= 0 or end <= 0:
            raise ValueError(f"temperatures must be > 0, got start={start}, end={end}")
        temperature_at(0, start, end, steps, mode)  # validates mode
        self.start, self.end, self.steps, self.mode = float(start), float(end), int(steps), mode

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, idx: int
    ) -> None:
        t = temperature_at(trainer.global_step, self.start, self.end, self.steps, self.mode)
        pl_module.model.set_temperature(t)
        pl_module.log("train/temperature", t, on_step=True, on_epoch=False)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pl_module.model.set_temperature(self.end)
