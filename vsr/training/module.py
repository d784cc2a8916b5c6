"""The LightningModule: EDVR training step, optimiser and schedule, validation metrics.

The network itself is a plain :class:`vsr.models.EDVR` (no Lightning inside); this module
adds what training needs around it: the pixel loss, Adam with a lower learning rate for the
deformable-convolution offset branches, the per-iteration schedule, EDVR's TSA-only warm-up,
and PSNR / SSIM / LPIPS per (scale, degradation) on validation. Weight averaging, the
non-finite guard, offset monitoring and the temperature schedule are callbacks
(:mod:`vsr.training.callbacks`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from lightning import LightningModule
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from vsr.conditions import DEGRADATIONS, SCALES
from vsr.metrics import LPIPS, LPIPSWeightsMissing, psnr_batch, ssim_batch
from vsr.models import to_channels_last
from vsr.ops import DCNv2Pack
from vsr.training.losses import PixelLoss

log = logging.getLogger(__name__)

#: Columns of the validation accumulator: sums of PSNR, SSIM, LPIPS, then the sample count.
_PSNR, _SSIM, _LPIPS, _COUNT = range(4)


def parameter_groups(model: nn.Module, offset_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Split parameters into the main group and the DCN offset branches.

    The offset branch of every :class:`vsr.ops.DCNv2Pack` (its ``conv_offset``) predicts
    sampling positions in pixels; a full learning rate there is the usual cause of EDVR's
    offset blow-up, so it gets ``lr * offset_lr_mult``.

    Returns:
        Optimiser parameter groups, each with a ``name`` and an ``lr_mult`` entry.
    """
    offset_ids = {
        id(p)
        for m in model.modules()
        if isinstance(m, DCNv2Pack)
        for p in m.conv_offset.parameters()
    }
    main = [p for p in model.parameters() if id(p) not in offset_ids]
    offsets = [p for p in model.parameters() if id(p) in offset_ids]
    groups = [{"params": main, "name": "main", "lr_mult": 1.0}]
    if offsets:
        groups.append({"params": offsets, "name": "dcn_offsets", "lr_mult": float(offset_lr_mult)})
    return groups


class VSRLitModule(LightningModule):
    """Trains an EDVR on batches of the agreed format (see :mod:`vsr.data.datamodule`).

    Args:
        model: the network (from :func:`vsr.models.build_edvr`; needs ``config``).
        optimizer: a partial optimiser taking the parameter groups (Hydra ``_partial_``),
            e.g. ``functools.partial(torch.optim.Adam, lr=4e-4, betas=(0.9, 0.99))``.
        scheduler: optional partial scheduler taking the optimiser, stepped every iteration
            (e.g. ``LambdaLR`` with :class:`vsr.training.schedules.WarmupCosineRestarts`).
        loss: the pixel loss (Charbonnier by default).
        offset_lr_mult: learning-rate multiplier of the DCN offset branches.
        tsa_iters: for the first ``tsa_iters`` iterations only the fusion (TSA) module trains,
            EDVR's recipe for training from a pretrained, aligned backbone.
        val_crop_border: pixels cut from each border before PSNR/SSIM (0, or the scale as in
            some papers).
        lpips: also measure LPIPS on validation when the backbone weights are cached.
        hide_strength_prob: probability that a training sample's degradation strength is
            withheld from the network (sent as 0, "unknown"). Users rarely know the noise
            sigma or CRF of their video; without this the network only ever sees the true
            strength and reads an unknown one as the weakest.
        val_y_channel: validate PSNR and SSIM on BT.601 Y instead of RGB, as
            ``benchmarks/bench_quality.py`` and the Vid4 / Vimeo-90K-T protocols measure. On
            noisy input the two can disagree in sign: removing chroma noise raises RGB PSNR
            while luma detail may be lost (stage 15 of the shipped model,
            checkpoints/README.md).
        seed: re-seeds torch / numpy / random from ``(seed, global step, rank)`` at every
            epoch start, so a run resumed from an end-of-epoch checkpoint draws the same
            crops as an uninterrupted one (None: leave the generators alone).
        channels_last: store the network's convolution weights channels-last, so its
            activations and gradients are too (:func:`vsr.models.to_channels_last`): the
            same values in another memory layout. Off by default: on a free 2-core Zen 5
            EPYC it trained the shipped architecture no faster (``benchmarks/bench_train.py
            --layouts``); GPUs' tensor cores prefer it, not yet measured here.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[[Optimizer], LRScheduler] | None = None,
        loss: nn.Module | None = None,
        offset_lr_mult: float = 0.1,
        tsa_iters: int = 0,
        val_crop_border: int = 0,
        lpips: bool = True,
        hide_strength_prob: float = 0.0,
        val_y_channel: bool = False,
        seed: int | None = 0,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if not hasattr(model, "config"):
            raise TypeError("model must come from vsr.models.build_edvr (it has no .config)")
        self.model = to_channels_last(model) if channels_last else model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loss = loss if loss is not None else PixelLoss("charbonnier")
        self.offset_lr_mult = float(offset_lr_mult)
        self.tsa_iters = int(tsa_iters)
        self.val_crop_border = int(val_crop_border)
        self.use_lpips = lpips
        if not 0.0 <= hide_strength_prob <= 1.0:
            raise ValueError(f"hide_strength_prob must be in [0, 1], got {hide_strength_prob}")
        self.hide_strength_prob = float(hide_strength_prob)
        self.val_y_channel = bool(val_y_channel)
        self.seed = seed
        self._val_sums = torch.zeros(len(SCALES), len(DEGRADATIONS), 4, dtype=torch.float64)
        self.__dict__["_lpips"] = None  # not a submodule: never saved in checkpoints
        self._lpips_checked = False
        self._resumed = False

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """Super-resolve a batch: ``lr`` (B, T, 3, h, w) -> (B, 3, s*h, s*w)."""
        return self.model(batch["lr"], batch["scale"], batch["degradation"], batch["strength"])

    # --------------------------------------------------------------------------- training
    def _reseed(self, step: int) -> None:
        from lightning.fabric.utilities.seed import seed_everything

        key = (int(self.seed) * 1_000_003 + step * 101 + self.global_rank) % (2**31 - 1)
        seed_everything(key, workers=True, verbose=False)

    def on_train_epoch_start(self) -> None:
        if self.seed is not None and not self._resumed:
            # Before the epoch's DataLoader iterator exists: shuffling, worker seeds and
            # crops then depend only on (seed, step, rank), not on what ran before
            # (validation, a previous process), so a resumed run draws the same data.
            self._reseed(self.global_step)
        self._resumed = False
        # Lightning sets the epoch of the index sampler only; batch samplers that draw per
        # batch (the scale of each batch) need it too, or a resumed run restarts their
        # sequence at epoch 0.
        loader = self.trainer.train_dataloader
        batch_sampler = getattr(loader, "batch_sampler", None)
        if callable(getattr(batch_sampler, "set_epoch", None)):
            batch_sampler.set_epoch(self.current_epoch)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        if self.hide_strength_prob > 0:
            strength = batch["strength"]
            hidden = torch.rand(strength.shape, device=strength.device) < self.hide_strength_prob
            batch = {**batch, "strength": strength.masked_fill(hidden, 0.0)}
        sr = self(batch)
        loss = self.loss(sr, batch["hr"])
        self.log("train/loss", loss, prog_bar=True, batch_size=sr.shape[0])
        self.log("train/scale", float(batch["scale"][0]), batch_size=sr.shape[0])
        return loss

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        # Gradients are already averaged across ranks here, so every rank drops the same ones.
        if self.global_step < self.tsa_iters:
            # EDVR's TSA warm-up: only the fusion module learns. A None gradient makes Adam
            # skip the parameter entirely (no moment update, no step count), as if frozen.
            for name, p in self.model.named_parameters():
                if not name.startswith("fusion."):
                    p.grad = None

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(parameter_groups(self.model, self.offset_lr_mult))
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * group.get("lr_mult", 1.0)
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }

    # ------------------------------------------------------------------------- validation
    def _lpips_metric(self) -> LPIPS | None:
        if self.use_lpips and not self._lpips_checked:
            self._lpips_checked = True
            try:
                self.__dict__["_lpips"] = LPIPS(device=self.device)
            except LPIPSWeightsMissing as exc:
                first = str(exc).splitlines()[0]
                log.info("LPIPS unavailable, validating PSNR and SSIM only (%s)", first)
        return self.__dict__["_lpips"]

    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros_like(self._val_sums)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        sr = self(batch).clamp_(0.0, 1.0)
        hr = batch["hr"]
        border, y = self.val_crop_border, self.val_y_channel
        psnr = psnr_batch(sr, hr, crop_border=border, y_channel=y).cpu()
        ssim = ssim_batch(sr, hr, crop_border=border, y_channel=y).cpu()
        metric = self._lpips_metric()
        lp = metric(sr, hr).double().cpu() if metric is not None else torch.zeros_like(psnr)
        scales = batch["scale"].cpu().tolist()
        kinds = batch["degradation"].cpu().tolist()
        for i, (s, k) in enumerate(zip(scales, kinds, strict=True)):
            row = self._val_sums[SCALES.index(int(s)), int(k)]
            row += torch.stack([psnr[i], ssim[i], lp[i], torch.ones((), dtype=torch.float64)])
        return {"sr": sr}

    def on_validation_epoch_end(self) -> None:
        # Sum over ranks first, so every rank logs the same numbers (ModelCheckpoint and
        # the Optuna sweeper read them on rank 0, early stopping on all ranks).
        sums = self.trainer.strategy.reduce(self._val_sums.to(self.device), reduce_op="sum").cpu()
        metrics: dict[str, float] = {}
        means: dict[str, list[float]] = {"psnr": [], "ssim": [], "lpips": []}
        have_lpips = self.__dict__["_lpips"] is not None
        for si, s in enumerate(SCALES):
            for ki, kind in enumerate(DEGRADATIONS):
                n = float(sums[si, ki, _COUNT])
                if n == 0:
                    continue
                values = {"psnr": sums[si, ki, _PSNR] / n, "ssim": sums[si, ki, _SSIM] / n}
                if have_lpips:
                    values["lpips"] = sums[si, ki, _LPIPS] / n
                for name, v in values.items():
                    metrics[f"val/{name}_x{s}_{kind}"] = float(v)
                    means[name].append(float(v))
        for name, vs in means.items():
            if vs:
                # Mean over conditions, each condition weighted equally: the checkpoint and
                # sweep target, independent of how many windows each condition has.
                metrics[f"val/{name}"] = sum(vs) / len(vs)
        if metrics:
            self.log("val/psnr", metrics.pop("val/psnr"), prog_bar=True, sync_dist=True)
            self.log_dict(metrics, prog_bar=False, sync_dist=True)

    # ------------------------------------------------------------------------ checkpoints
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # On resume Lightning creates the DataLoader iterator before on_train_epoch_start,
        # so seed here, as the uninterrupted run did at the start of this epoch. Exact for
        # end-of-epoch checkpoints with num_workers=0 or non-persistent workers.
        if self.seed is not None:
            self._reseed(int(checkpoint.get("global_step", 0)))
            self._resumed = True

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # What vsr-export needs to rebuild the network with no Hydra config around.
        checkpoint["vsr"] = {"model_config": dict(self.model.config)}
        # A checkpoint written by on_train_epoch_end (ModelCheckpoint with
        # save_on_train_epoch_end) has the epoch "processed" but not yet "completed"; on
        # resume Lightning would then re-enter that epoch and train one batch too many.
        # Nothing but the completion counter is left of the epoch, so record it as done.
        progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress")
        if progress and all(
            progress[p]["processed"] == progress[p]["completed"] + 1 for p in ("total", "current")
        ):
            for part in ("total", "current"):
                progress[part]["completed"] = progress[part]["processed"]
            checkpoint["epoch"] = progress["current"]["completed"]
