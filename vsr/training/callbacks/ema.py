"""Exponential moving average of the weights, used for validation and export.

The averaged weights restore better than the raw ones late in training (the optimiser's
noise averages out). They live in this callback's state, which Lightning saves in every
checkpoint and restores on resume, so a resumed run continues the same average.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer

from vsr.training.callbacks.guard import find_guard

#: Where the averaged weights sit in a Lightning checkpoint: ``ckpt["callbacks"][STATE_KEY]``.
STATE_KEY = "EMA"


class EMA(Callback):
    """Keeps ``shadow = decay * shadow + (1 - decay) * weights`` after every optimiser step.

    Validation runs with the averaged weights (swapped in and out around it). Buffers are
    copied, not averaged. A step dropped by the non-finite guard is not averaged in.

    Args:
        decay: averaging factor per step (0.999: a window of about 1000 steps).
        start_step: before this optimiser step the average just copies the weights.
        validate_with_ema: evaluate the averaged weights during validation.
    """

    def __init__(
        self, decay: float = 0.999, start_step: int = 0, validate_with_ema: bool = True
    ) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.start_step = int(start_step)
        self.validate_with_ema = validate_with_ema
        self.shadow: dict[str, torch.Tensor] | None = None
        self._backup: dict[str, torch.Tensor] | None = None

    @property
    def state_key(self) -> str:
        return STATE_KEY

    def _model(self, pl_module: LightningModule) -> torch.nn.Module:
        return pl_module.model

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        state = self._model(pl_module).state_dict()
        if self.shadow is None:
            self.shadow = {k: v.detach().clone() for k, v in state.items()}
        else:  # restored from a checkpoint (on the CPU or another device)
            missing = set(state) ^ set(self.shadow)
            if missing:
                raise RuntimeError(
                    f"the checkpoint's EMA weights do not match the model ({len(missing)} "
                    f"keys differ, e.g. {sorted(missing)[0]}); resume with the same model config"
                )
            self.shadow = {k: v.to(state[k].device) for k, v in self.shadow.items()}

    @torch.no_grad()
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if self.shadow is None:
            return
        guard = find_guard(trainer)
        if guard is not None and guard.step_skipped:
            return
        copy = trainer.global_step <= self.start_step
        for name, value in self._model(pl_module).state_dict().items():
            shadow = self.shadow[name]
            if copy or not value.is_floating_point():
                shadow.copy_(value)
            else:
                shadow.lerp_(value.detach(), 1.0 - self.decay)

    # The swap: validation sees the average, training resumes with its own weights.
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.validate_with_ema or self.shadow is None:
            return
        model = self._model(pl_module)
        self._backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._backup is not None:
            self._model(pl_module).load_state_dict(self._backup)
            self._backup = None

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # A checkpoint written while the average is swapped in must still hold the training
        # weights under "state_dict" (resume would otherwise train from the average).
        if self._backup is not None:
            prefix = "model."
            for k, v in self._backup.items():
                checkpoint["state_dict"][prefix + k] = v.clone()

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "start_step": self.start_step, "shadow": self.shadow}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.shadow = state_dict["shadow"]

    def __repr__(self) -> str:
        return f"EMA(decay={self.decay}, start_step={self.start_step})"
