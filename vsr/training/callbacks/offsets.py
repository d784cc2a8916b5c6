"""Log the mean |offset| of every deformable convolution and warn when one grows too large.

A mean offset that keeps climbing (EDVR users report > 50 pixels) is the first sign that
alignment has diverged, usually long before the loss shows it.
"""

from __future__ import annotations

import logging
from typing import Any

from lightning import Callback, LightningModule, Trainer

log = logging.getLogger(__name__)


class OffsetMonitor(Callback):
    """Logs ``train/offset/<dcn name>`` and ``train/offset/max`` every few steps.

    Args:
        every_n_steps: logging interval in optimiser steps.
        warn_threshold: warn when a DCN's mean |offset| exceeds this (pixels); None uses
            the model's ``offset_warn_threshold``.
    """

    def __init__(self, every_n_steps: int = 50, warn_threshold: float | None = None) -> None:
        self.every_n_steps = max(int(every_n_steps), 1)
        self.warn_threshold = warn_threshold
        self.warnings = 0

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if (trainer.global_step - 1) % self.every_n_steps:
            return
        model = pl_module.model
        magnitudes = model.offset_magnitudes()
        if not magnitudes:
            return
        metrics = {f"train/offset/{name}": value for name, value in magnitudes.items()}
        worst = max(magnitudes, key=magnitudes.get)
        metrics["train/offset/max"] = magnitudes[worst]
        pl_module.log_dict(metrics, on_step=True, on_epoch=False)
        threshold = self.warn_threshold
        if threshold is None:
            threshold = getattr(model, "offset_warn_threshold", 50.0)
        if magnitudes[worst] > threshold:
            self.warnings += 1
            log.warning(
                "step %d: mean |offset| of %s is %.1f > %.1f pixels; alignment may be "
                "diverging (lower module.offset_lr_mult or set model.max_offset)",
                trainer.global_step,
                worst,
                magnitudes[worst],
                threshold,
            )
