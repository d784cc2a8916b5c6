"""A few validation crops as images: TensorBoard images, or PNG files in the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger

from vsr.conditions import DEGRADATIONS
from vsr.video.panels import side_by_side


def comparison_strip(lr_centre: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor) -> np.ndarray:
    """``[nearest-upscaled LR | SR | HR]`` side by side (:func:`vsr.video.panels.side_by_side`).

    Args:
        lr_centre: (3, h, w); sr, hr: (3, s*h, s*w); floats in [0, 1].

    Returns:
        (s*h, 3*s*w + 2 gaps, 3) uint8 RGB.
    """
    up = F.interpolate(lr_centre[None].float(), size=sr.shape[-2:], mode="nearest")[0]
    panels = [
        (x.float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        for x in (up, sr, hr)
    ]
    return side_by_side(panels)


class ValidationImages(Callback):
    """Logs the first ``num_images`` validation samples of every validation run.

    With a TensorBoard logger they appear under ``val_images/<i>_x<s>_<degradation>``;
    otherwise they are written to ``<run dir>/val_images/step<step>_<i>_x<s>_<kind>.png``.
    Rank 0 only.

    Args:
        num_images: samples per validation run (0 disables).
    """

    def __init__(self, num_images: int = 4) -> None:
        self.num_images = int(num_images)
        self._done = 0

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._done = 0

    def _write(self, trainer: Trainer, tag: str, img: np.ndarray) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(tag, img, trainer.global_step, dataformats="HWC")
                return
        # Not trainer.log_dir: it broadcasts from rank 0, and only rank 0 gets here.
        log_dir = getattr(trainer.logger, "log_dir", None) if trainer.logger else None
        root = Path(log_dir or trainer.default_root_dir) / "val_images"
        root.mkdir(parents=True, exist_ok=True)
        name = f"step{trainer.global_step:07d}_{tag.split('/', 1)[1]}.png"
        cv2.imwrite(str(root / name), img[..., ::-1])

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or self._done >= self.num_images:
            return
        if not isinstance(outputs, dict) or "sr" not in outputs:
            return
        sr = outputs["sr"]
        t = batch["lr"].shape[1]
        for i in range(sr.shape[0]):
            if self._done >= self.num_images:
                break
            scale = int(batch["scale"][i])
            kind = DEGRADATIONS[int(batch["degradation"][i])]
            img = comparison_strip(batch["lr"][i, t // 2], sr[i], batch["hr"][i])
            self._write(trainer, f"val_images/{self._done}_x{scale}_{kind}", img)
            self._done += 1
