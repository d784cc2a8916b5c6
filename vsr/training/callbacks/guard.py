"""Skip an optimiser step whose loss or gradients are not finite.

One NaN from a bad batch (an all-black crop with a degenerate degradation, an fp16
overflow, a diverging offset) would otherwise poison every weight and the Adam moments for
good. The guard drops that step instead and counts it; too many in a row stops training.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from torch.optim import Optimizer

log = logging.getLogger(__name__)


class NonFiniteGuard(Callback):
    """Drops the step (all gradients set to None) when the loss or a gradient is NaN/inf.

    Runs after the backward pass and the DDP gradient all-reduce and before clipping and the
    optimiser step; the decision is shared by all ranks so their weights stay equal. With
    every gradient None, the optimiser leaves the weights and its moments untouched.
    Logs ``train/skipped_steps`` (running count) and one warning line per skipped step.

    Other callbacks ask :attr:`step_skipped` (e.g. :class:`EMA` leaves a dropped step out of
    its average); see :func:`find_guard`.

    Args:
        max_consecutive: raise after this many skipped steps in a row (None: never).
    """

    def __init__(self, max_consecutive: int | None = 50) -> None:
        self.max_consecutive = max_consecutive
        self.skipped = 0
        self.consecutive = 0
        #: Whether the current batch's optimiser step was dropped.
        self.step_skipped = False
        self._loss: torch.Tensor | None = None

    @property
    def state_key(self) -> str:
        return "NonFiniteGuard"

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, idx: int
    ) -> None:
        self.step_skipped = False
        self._loss = None

    def on_before_backward(
        self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor
    ) -> None:
        # The loss as handed to backward (divided by accumulate_grad_batches, and scaled
        # under fp16): its finiteness is the training loss's.
        self._loss = loss.detach()

    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: Optimizer
    ) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        finite = torch.stack([torch.isfinite(g).all() for g in grads]).all() if grads else True
        loss = self._loss
        if loss is not None:
            finite = finite & torch.isfinite(loss).all()
        bad = not bool(finite)
        bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if not bad:
            self.consecutive = 0
            pl_module.log("train/skipped_steps", float(self.skipped))
            return
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
        self.skipped += 1
        self.consecutive += 1
        self.step_skipped = True
        pl_module.log("train/skipped_steps", float(self.skipped))
        loss_text = f"{float(loss):.4g}" if loss is not None else "n/a"
        log.warning(
            "step %d skipped: non-finite loss or gradient (loss %s); %d skipped so far",
            trainer.global_step,
            loss_text,
            self.skipped,
        )
        if self.max_consecutive is not None and self.consecutive >= self.max_consecutive:
            raise RuntimeError(
                f"{self.consecutive} consecutive steps had a non-finite loss or gradient "
                f"(last at step {trainer.global_step}): training has diverged; lower the "
                "learning rate or offset_lr_mult, enable gradient clipping, or resume from an "
                "earlier checkpoint"
            )

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.skipped = int(state_dict.get("skipped", 0))


def find_guard(trainer: Trainer) -> NonFiniteGuard | None:
    """The run's :class:`NonFiniteGuard`, if it has one."""
    return next((c for c in trainer.callbacks if isinstance(c, NonFiniteGuard)), None)
