"""Callbacks and training-step behaviour on a real Trainer with the tiny model.

Synthetic in-memory batches (x4, bicubic) keep each run to a few steps of a second.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning import Callback, Trainer
from skimage.metrics import structural_similarity
from torch import nn
from training_helpers import synthetic_loader

from vsr.metrics import default_backbone_path
from vsr.models import build_edvr
from vsr.nn import KernelBankConv2d
from vsr.ops import DCNv2Pack
from vsr.training import VSRLitModule
from vsr.training.callbacks import (
    EMA,
    NonFiniteGuard,
    OffsetMonitor,
    TemperatureSchedule,
    temperature_at,
)


def make_module(trunk_conv: str = "static", loss: nn.Module | None = None, **kw) -> VSRLitModule:
    torch.manual_seed(0)
    model = build_edvr("tiny", trunk_conv=trunk_conv, scales=(4,))
    opt = functools.partial(torch.optim.Adam, lr=1e-3, betas=(0.9, 0.99))
    return VSRLitModule(model, optimizer=opt, loss=loss, lpips=False, seed=None, **kw)


def fit(module: VSRLitModule, callbacks: list[Callback], steps: int, **kw) -> Trainer:
    trainer = Trainer(
        accelerator="cpu",
        max_steps=steps,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **kw,
    )
    trainer.fit(module, train_dataloaders=synthetic_loader(n=8, batch_size=2))
    return trainer


def flat(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Snapshots(Callback):
    """Model weights before training and after every step."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_start(self, trainer, pl_module) -> None:
        self.states.append(flat(pl_module.model))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, idx) -> None:
        self.states.append(flat(pl_module.model))


def changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in a if not torch.equal(a[k], b[k])}


class NonFiniteOnCall(nn.Module):
    """L1 loss, made non-finite on one call: the loss itself, or only its gradient."""

    def __init__(self, bad_call: int, where: str) -> None:
        super().__init__()
        self.bad_call, self.where, self.calls = bad_call, where, 0

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.bad_call and self.where == "grad":
            pred.register_hook(lambda g: g * float("inf"))
        loss = F.l1_loss(pred, target)
        if self.calls == self.bad_call and self.where == "loss":
            loss = loss * float("nan")
        return loss


@pytest.mark.parametrize("where", ["loss", "grad"])
def test_non_finite_step_is_skipped_and_weights_unchanged(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    module = make_module(loss=NonFiniteOnCall(bad_call=2, where=where))
    guard, ema, snaps = NonFiniteGuard(), EMA(decay=0.5), Snapshots()
    shadows: list[dict[str, torch.Tensor]] = []

    skipped: list[bool] = []

    class ShadowRecorder(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, idx) -> None:
            shadows.append({k: v.clone() for k, v in ema.shadow.items()})
            skipped.append(guard.step_skipped)

    with caplog.at_level(logging.WARNING, logger="vsr.training.callbacks.guard"):
        trainer = fit(module, [ema, snaps, ShadowRecorder(), guard], steps=3)
    assert skipped == [False, True, False]  # what EMA asked the guard
    # The guard keeps its own state: nothing is passed through attributes of the module.
    assert not hasattr(module, "step_skipped") and not hasattr(module, "last_loss")
    w0, w1, w2, w3 = snaps.states
    assert changed(w0, w1) and changed(w2, w3)  # normal steps train
    assert not changed(w1, w2)  # the bad step left every weight untouched ...
    assert not changed(shadows[0], shadows[1])  # ... and the average too
    assert all(torch.isfinite(v).all() for v in w3.values())
    assert guard.skipped == 1 and trainer.global_step == 3
    # Adam never saw the skipped step: two updates in its state, not three.
    opt = trainer.optimizers[0]
    assert {int(s["step"]) for s in opt.state.values()} == {2}
    assert sum("step 1 skipped: non-finite" in r.getMessage() for r in caplog.records) == 1


def test_guard_stops_a_diverged_run() -> None:
    class AlwaysNaN(nn.Module):
        def forward(self, pred, target):
            return F.l1_loss(pred, target) * float("nan")

    with pytest.raises(RuntimeError, match="2 consecutive steps had a non-finite loss"):
        fit(make_module(loss=AlwaysNaN()), [NonFiniteGuard(max_consecutive=2)], steps=3)


def test_ema_average_and_validation_with_averaged_weights() -> None:
    module = make_module()
    ema, snaps = EMA(decay=0.5), Snapshots()
    seen: list[dict[str, torch.Tensor]] = []
    outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    class DuringValidation(Callback):
        def on_validation_batch_end(self, trainer, pl_module, out, batch, idx, dl=0) -> None:
            seen.append(flat(pl_module.model))
            outputs.append((out["sr"], batch["hr"]))

    fit(module, [ema, snaps], steps=2)
    w0, w1, w2 = snaps.states
    for k, v in ema.shadow.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.25 * w0[k] + 0.25 * w1[k] + 0.5 * w2[k])
    # Validation sees the average; training weights come back afterwards.
    validator = Trainer(
        accelerator="cpu",
        callbacks=[ema, DuringValidation()],
        logger=False,
        enable_progress_bar=False,
    )
    metrics = validator.validate(module, dataloaders=synthetic_loader(n=4), verbose=False)[0]
    assert not changed(seen[0], ema.shadow)
    assert not changed(flat(module.model), w2)
    # val/psnr_x4_bicubic against an independent numpy PSNR of the logged outputs.
    # ... and SSIM against scikit-image's Gaussian-window SSIM (Wang et al. settings).
    psnrs, ssims = [], []
    for sr, hr in outputs:
        for a, b in zip(sr.double().numpy(), hr.double().numpy(), strict=True):
            psnrs.append(10 * np.log10(1.0 / np.mean((a - b) ** 2)))
            ssims.append(
                structural_similarity(
                    a,
                    b,
                    channel_axis=0,
                    data_range=1.0,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                )
            )
    assert metrics["val/psnr_x4_bicubic"] == pytest.approx(np.mean(psnrs), rel=1e-5)
    assert metrics["val/psnr"] == pytest.approx(metrics["val/psnr_x4_bicubic"])
    assert metrics["val/ssim_x4_bicubic"] == pytest.approx(np.mean(ssims), abs=2e-3)
    assert not any(k.startswith("val/psnr_x2") for k in metrics)


@pytest.mark.skipif(default_backbone_path().is_file(), reason="LPIPS weights are cached here")
def test_lpips_missing_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    model = build_edvr("tiny", trunk_conv="static", scales=(4,))
    module = VSRLitModule(model, optimizer=torch.optim.Adam, lpips=True)
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    with caplog.at_level(logging.INFO, logger="vsr.training.module"):
        for _ in range(2):
            metrics = trainer.validate(module, dataloaders=synthetic_loader(n=2), verbose=False)
    assert "val/psnr" in metrics[0] and not any("lpips" in k for k in metrics[0])
    assert sum("LPIPS unavailable" in r.getMessage() for r in caplog.records) == 1


def test_tsa_warmup_trains_only_the_fusion_module() -> None:
    module, snaps = make_module(tsa_iters=2), Snapshots()
    fit(module, [snaps], steps=3)
    w0, w1, w2, w3 = snaps.states
    for before, after in ((w0, w1), (w1, w2)):
        diff = changed(before, after)
        assert diff and all(k.startswith("fusion.") for k in diff)
    assert any(not k.startswith("fusion.") for k in changed(w2, w3))  # then everything trains


def test_temperature_schedule_follows_the_global_step() -> None:
    module = make_module(trunk_conv="cond_dynamic")
    seen: list[float] = []

    class Probe(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, idx) -> None:
            bank = next(m for m in pl_module.model.modules() if isinstance(m, KernelBankConv2d))
            seen.append(bank.temperature)

    fit(module, [TemperatureSchedule(start=9.0, end=1.0, steps=4), Probe()], steps=3)
    assert seen == [9.0, 7.0, 5.0]
    banks = [m for m in module.model.modules() if isinstance(m, KernelBankConv2d)]
    assert banks and all(m.temperature == 1.0 for m in banks)  # final value after training
    assert temperature_at(2, 9.0, 1.0, 4, "cosine") == pytest.approx(5.0)
    assert temperature_at(10, 9.0, 1.0, 4) == 1.0


def test_offset_monitor_logs_every_dcn_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    module = make_module()
    with caplog.at_level(logging.WARNING, logger="vsr.training.callbacks.offsets"):
        trainer = fit(module, [OffsetMonitor(every_n_steps=1, warn_threshold=1e-9)], steps=2)
    names = {n for n, m in module.model.named_modules() if isinstance(m, DCNv2Pack)}
    assert len(names) == 4
    logged = {k.removeprefix("train/offset/") for k in trainer.logged_metrics if "offset/" in k}
    assert logged == names | {"max"}
    # Offsets start at exactly zero (zero-initialised branch), then move after one step.
    assert float(trainer.logged_metrics["train/offset/max"]) > 0.0
    assert any("mean |offset|" in r.getMessage() for r in caplog.records)


def test_offset_monitor_logs_the_offsets_the_dcns_used_and_removes_its_hooks() -> None:
    module = make_module()
    raw: list[dict[str, torch.Tensor]] = []  # conv_offset outputs of each training batch

    class RawOffsets(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, idx) -> None:
            raw.append({})
            self.hooks = [
                m.conv_offset.register_forward_hook(
                    lambda mod, inp, out, n=name: raw[-1].__setitem__(n, out.detach())
                )
                for name, m in pl_module.model.named_modules()
                if isinstance(m, DCNv2Pack)
            ]

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, idx) -> None:
            for h in self.hooks:
                h.remove()

    monitor = OffsetMonitor(every_n_steps=2)
    trainer = fit(module, [RawOffsets(), monitor], steps=3)  # logs the 1st and 3rd batch
    assert monitor.warnings == 0 and len(raw) == 3 and len(raw[2]) == 4
    for name, out in raw[2].items():
        expected = out[:, : 2 * out.shape[1] // 3].abs().mean().item()  # no max_offset
        assert expected > 0  # moved by the first two steps: this is the 3rd batch's
        logged = float(trainer.logged_metrics[f"train/offset/{name}"])
        assert logged == pytest.approx(expected, rel=1e-4), name
    assert not any(m._forward_hooks for m in module.model.modules())


def test_validation_images_go_to_tensorboard(tmp_path) -> None:
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vsr.training.callbacks import ValidationImages, comparison_strip

    logger = TensorBoardLogger(tmp_path, name="tb", version="")
    trainer = Trainer(
        accelerator="cpu",
        logger=logger,
        callbacks=[ValidationImages(num_images=3)],
        enable_progress_bar=False,
    )
    trainer.validate(make_module(), dataloaders=synthetic_loader(n=4), verbose=False)
    logger.experiment.flush()
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert sorted(events.Tags()["images"]) == [f"val_images/{i}_x4_bicubic" for i in range(3)]
    # The strip: nearest-upscaled LR | output | ground truth, as 8-bit RGB.
    lr = torch.tensor([[[0.0, 1.0]], [[0.5, 0.5]], [[1.0, 0.0]]])  # (3, 1, 2)
    sr, hr = torch.zeros(3, 2, 4), torch.ones(3, 2, 4)
    strip = comparison_strip(lr, sr, hr)
    assert strip.shape == (2, 12 + 2 * 4, 3) and strip.dtype == np.uint8  # 4-pixel gaps
    assert strip[0, :4, 0].tolist() == [0, 0, 255, 255] and strip[1, :4, 1].tolist() == [128] * 4
    assert (strip[:, 8:12] == 0).all() and (strip[:, 16:] == 255).all()


@pytest.mark.parametrize("prob", [0.0, 0.3, 1.0])
def test_hidden_strength_share_of_training_samples(prob: float) -> None:
    module = make_module(hide_strength_prob=prob)
    seen: list[torch.Tensor] = []

    def record(batch: dict) -> torch.Tensor:  # stands in for the network
        seen.append(batch["strength"])
        return torch.zeros_like(batch["hr"])

    module.forward = record
    n = 20_000
    strength = torch.full((n,), 0.7)
    batch = {"strength": strength, "hr": torch.zeros(n, 1), "scale": torch.full((n,), 4)}
    torch.manual_seed(0)
    module.training_step(batch, 0)
    (sent,) = seen
    hidden = sent == 0
    assert torch.all(sent[~hidden] == 0.7)  # the rest go through untouched
    assert abs(hidden.float().mean().item() - prob) < 0.02
    assert torch.all(strength == 0.7)  # the caller's batch is not modified


def test_hidden_strength_probability_is_checked() -> None:
    with pytest.raises(ValueError, match="hide_strength_prob must be in"):
        make_module(hide_strength_prob=1.5)


def test_validation_on_y_channel() -> None:
    # val_y_channel: the logged PSNR is the BT.601 Y PSNR (MATLAB's rgb2ycbcr luma, as the
    # held-out benchmark and the Vid4 / Vimeo-90K-T protocols), computed here in numpy.
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Record(Callback):
        def on_validation_batch_end(self, trainer, pl_module, out, batch, idx, dl=0) -> None:
            pairs.append((out["sr"], batch["hr"]))

    def validate(**kw) -> dict[str, float]:
        pairs.clear()
        trainer = Trainer(
            accelerator="cpu", callbacks=[Record()], logger=False, enable_progress_bar=False
        )
        return trainer.validate(
            make_module(**kw), dataloaders=synthetic_loader(n=4), verbose=False
        )[0]

    rgb = validate()["val/psnr_x4_bicubic"]
    y = validate(val_y_channel=True)["val/psnr_x4_bicubic"]
    weights = np.array([65.481, 128.553, 24.966]) / 255.0  # offset 16/255 cancels in the MSE
    psnrs = []
    for sr, hr in pairs:
        for a, b in zip(sr.double().numpy(), hr.double().numpy(), strict=True):
            diff = np.tensordot(weights, a - b, axes=1)
            psnrs.append(10 * np.log10(1.0 / np.mean(diff**2)))
    assert y == pytest.approx(np.mean(psnrs), rel=1e-5)
    assert abs(y - rgb) > 0.1  # the option changes what is measured
