"""Log the mean |offset| of every deformable convolution and warn when one grows too large.

A mean offset that keeps climbing (EDVR users report > 50 pixels) is the first sign that
alignment has diverged, usually long before the loss shows it.
"""

from __future__ import annotations

import logging
from typing import Any

from lightning import Callback, LightningModule, Trainer

from vsr.models.introspect import OffsetRecorder

log = logging.getLogger(__name__)


class OffsetMonitor(Callback):
    """Logs ``train/offset/<dcn name>`` and ``train/offset/max`` every few steps.

    The offsets are read by forward hooks on the model's DCNs (an
    :class:`vsr.models.introspect.OffsetRecorder`), attached from setup to teardown and
    recording only the training batches of logging steps: the network does no monitoring
    of its own, and other steps pay nothing. Each logging step copies its values from the
    device once.

    Args:
        every_n_steps: logging interval in optimiser steps.
        warn_threshold: warn when a DCN's mean |offset| exceeds this (pixels).
    """

    def __init__(self, every_n_steps: int = 50, warn_threshold: float = 50.0) -> None:
        self.every_n_steps = max(int(every_n_steps), 1)
        self.warn_threshold = float(warn_threshold)
        self.warnings = 0
        self._recorder: OffsetRecorder | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and self._recorder is None:
            self._recorder = OffsetRecorder(pl_module.model, enabled=False)

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._recorder is not None:
            self._recorder.remove()
            self._recorder = None

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, idx: int
    ) -> None:
        if self._recorder is not None:
            # The optimiser step this batch makes is step global_step.
            self._recorder.enabled = trainer.global_step % self.every_n_steps == 0

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        recorder = self._recorder
        if recorder is None or not recorder.enabled:
            return
        recorder.enabled = False  # validation and the next steps are not recorded
        magnitudes = recorder.magnitudes()
        recorder.reset()
        if not magnitudes:
            return
        metrics = {f"train/offset/{name}": value for name, value in magnitudes.items()}
        worst = max(magnitudes, key=magnitudes.get)
        metrics["train/offset/max"] = magnitudes[worst]
        pl_module.log_dict(metrics, on_step=True, on_epoch=False)
        if magnitudes[worst] > self.warn_threshold:
            self.warnings += 1
            log.warning(
                "step %d: mean |offset| of %s is %.1f > %.1f pixels; alignment may be "
                "diverging (lower module.offset_lr_mult or set model.max_offset)",
                trainer.global_step,
                worst,
                magnitudes[worst],
                self.warn_threshold,
            )
