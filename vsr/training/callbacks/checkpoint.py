"""Lightning's ModelCheckpoint, plus a ``last.ckpt`` of the final step.

With step-based saving (``every_n_train_steps``), Lightning writes ``last.ckpt`` only on
those steps: a run stopped by ``max_steps`` or ``max_time`` between two of them leaves a
``last.ckpt`` that misses its final steps (a 2,200-step run saving every 250 exports step
2,000). This subclass writes ``last.ckpt`` once more when training ends, if the final step
is not already in it.
"""

from __future__ import annotations

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


class Checkpoint(ModelCheckpoint):
    """:class:`~lightning.pytorch.callbacks.ModelCheckpoint` whose ``last.ckpt`` always
    holds the final step of a run (same arguments)."""

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        # _last_global_step_saved is the step of ModelCheckpoint's latest save of any kind.
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            self._last_global_step_saved = trainer.global_step
