"""The DataModule: batch format, one scale per batch, DDP sharding, and the Hydra configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning import LightningModule, Trainer
from lightning.fabric.utilities.data import _replace_dunder_methods, _update_dataloader
from torch.utils.data import BatchSampler, DistributedSampler

from tests.helpers import CONF_DIR
from vsr.conditions import DEGRADATIONS
from vsr.data.datamodule import TrainOptions, ValOptions, VSRDataModule
from vsr.data.frames import FrameFolderSource
from vsr.data.reds import REDSSource
from vsr.data.sampling import DegradationSampler, GroupedBatchSampler, ScaleBatchSampler
from vsr.data.videos import VideoSource
from vsr.data.vimeo import VimeoSource


def _sampler() -> DegradationSampler:
    return DegradationSampler(
        kinds=["bicubic", "blur", "noise", "compression"],
        scales=(2, 3, 4),
        val_kinds=["bicubic", "noise"],
        val_scales=(2, 4),
        options={"crf": (20, 30), "preset": "ultrafast"},
    )


def _datamodule(root: Path, train: dict | None = None, val: dict | None = None) -> VSRDataModule:
    """Three-frame windows of the REDS tree; ``train`` / ``val`` change the loader options."""
    train = {"patch_size": 12, "batch_size": 2, "num_workers": 0, **(train or {})}
    val = {"num_workers": 0, **(val or {})}
    return VSRDataModule(
        TrainOptions(REDSSource(root, "train"), **train),
        ValOptions(REDSSource(root, "val"), **val),
        _sampler(),
        num_frames=3,
        pin_memory=False,
        seed=1,
    )


def _check_batch(batch: dict, batch_size: int, num_frames: int) -> int:
    assert set(batch) == {"lr", "hr", "scale", "degradation", "strength", "key"}
    lr, hr = batch["lr"], batch["hr"]
    assert lr.dtype == hr.dtype == torch.float32
    assert 0.0 <= float(lr.min()) and float(lr.max()) <= 1.0
    assert batch["scale"].dtype == batch["degradation"].dtype == torch.long
    assert batch["strength"].dtype == torch.float32 and batch["strength"].shape == (batch_size,)
    scales = batch["scale"].unique()
    assert len(scales) == 1, "one scale per batch"
    s = int(scales)
    b, t, c, h, w = lr.shape
    assert (b, t, c) == (batch_size, num_frames, 3) and hr.shape == (b, 3, s * h, s * w)
    assert all(0 <= int(d) < len(DEGRADATIONS) for d in batch["degradation"])
    assert ((batch["strength"] >= 0) & (batch["strength"] <= 1)).all()
    bicubic = batch["degradation"] == 0
    assert (batch["strength"][bicubic] == 0).all()
    assert isinstance(batch["key"], list) and all(isinstance(k, str) for k in batch["key"])
    return s


def test_train_batches_have_one_scale_each(reds_root: Path) -> None:
    dm = _datamodule(reds_root)
    dm.setup("fit")
    torch.manual_seed(0)
    loader = dm.train_dataloader()
    assert isinstance(loader.batch_sampler, ScaleBatchSampler)
    assert len(loader) == 21 // 2
    scales, kinds = [], set()
    for batch in loader:
        scales.append(_check_batch(batch, 2, 3))
        kinds.update(int(d) for d in batch["degradation"])
    assert len(set(scales)) > 1 and len(kinds) > 1
    # The scale sequence is fixed by the seed and the epoch, not by the data order.
    again = ScaleBatchSampler(range(21), 2, scales=(2, 3, 4), seed=1)
    again.set_epoch(0)
    assert [b[0][1] for b in again] == scales


def test_train_loader_with_workers(reds_root: Path) -> None:
    dm = _datamodule(reds_root, train={"num_workers": 2, "batch_size": 3})
    dm.setup("fit")
    batches = []
    for i, batch in enumerate(dm.train_dataloader()):
        batches.append(batch)
        if i == 1:
            break
    for batch in batches:
        _check_batch(batch, 3, 3)


def test_val_batches_never_mix_scales(reds_root: Path) -> None:
    dm = _datamodule(reds_root, val={"batch_size": 4, "frame_stride": 3})
    dm.setup("validate")
    assert dm.train_dataset is None
    loader = dm.val_dataloader()
    assert isinstance(loader.batch_sampler, GroupedBatchSampler)
    windows = 4 * 3  # REDS4 clips x frames 0, 3, 6
    seen = 0
    for batch in loader:
        _check_batch(batch, batch["lr"].shape[0], 3)
        seen += batch["lr"].shape[0]
    assert seen == len(dm.val_dataset) == 2 * 2 * windows
    assert len(loader) == 4 * 3  # (scale, kind) combos x ceil(12 / 4)


def test_no_validation_source(reds_root: Path) -> None:
    dm = VSRDataModule(TrainOptions(REDSSource(reds_root, "train")), None, _sampler())
    assert dm.val_dataloader() == []


@pytest.mark.parametrize("rank", [0, 1])
def test_lightning_distributed_sampler_keeps_scale_config(reds_root: Path, rank: int) -> None:
    # What Lightning does under DDP: it records the batch sampler's arguments while the
    # train_dataloader hook runs, then re-creates it with a DistributedSampler in `sampler`.
    dm = _datamodule(reds_root)
    dm.setup("fit")
    with _replace_dunder_methods(BatchSampler):
        loader = dm.train_dataloader()
    shards = []
    for r in (0, 1):
        dist = DistributedSampler(loader.dataset, num_replicas=2, rank=r, shuffle=True, seed=0)
        shards.append(_update_dataloader(loader, dist).batch_sampler)
    mine = shards[rank]
    assert isinstance(mine, ScaleBatchSampler) and isinstance(mine.sampler, DistributedSampler)
    assert mine.scales == [2, 3, 4] and mine.seed == 1 and mine.batch_size == 2
    indices = [[i for b in s for i, _ in b] for s in shards]
    assert not set(indices[0]) & set(indices[1])  # each rank its own shard
    scale_runs = [[b[0][1] for b in s] for s in shards]
    assert scale_runs[0] == scale_runs[1]  # same scale at the same step on every rank


# --------------------------------------------------------------------------------------------
# Hydra configs
# --------------------------------------------------------------------------------------------


def _compose(data: str, degradation: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            overrides=[
                f"+data={data}",
                f"+degradation={degradation}",
                "+model=edvr",  # frames and scales come from model.*
                "+paths.data_dir=/datasets",
                *overrides,
            ]
        )


@pytest.mark.parametrize(
    ("data", "source_cls", "root"),
    [
        ("reds", REDSSource, "/datasets/REDS"),
        ("vimeo90k", VimeoSource, "/datasets/vimeo_septuplet"),
        ("frames", FrameFolderSource, "/datasets/frames"),
        ("videos", VideoSource, "/datasets/videos"),
    ],
)
def test_data_configs_instantiate_without_data(data: str, source_cls: type, root: str) -> None:
    cfg = _compose(data, "all")
    dm = instantiate(cfg.data)
    assert isinstance(dm, VSRDataModule)
    assert isinstance(dm.train, TrainOptions) and isinstance(dm.val, ValOptions)
    assert isinstance(dm.train.source, source_cls) and isinstance(dm.val.source, source_cls)
    assert str(dm.train.source.root) == root and dm.val.source.split == "val"
    assert dm.num_frames == cfg.model.num_frames
    assert dm.degradation.kinds == list(DEGRADATIONS) and dm.degradation.scales == [2, 3, 4]


@pytest.mark.parametrize("name", ["bicubic", "blur", "noise", "compression", "all"])
def test_degradation_configs(name: str) -> None:
    sampler = instantiate(_compose("reds", name).degradation)
    assert isinstance(sampler, DegradationSampler)
    expected = list(DEGRADATIONS) if name == "all" else [name]
    assert sampler.kinds == expected and sampler.val_kinds == expected
    assert abs(sampler.probs.sum() - 1) < 1e-9


def test_reds_config_pointed_at_data(reds_root: Path) -> None:
    cfg = _compose(
        "reds",
        "bicubic",
        f"data.root={reds_root}",
        "model.num_frames=3",
        "data.train.patch_size=12",
        "data.train.batch_size=2",
        "data.train.num_workers=0",
        "data.pin_memory=false",
        "data.train.source.partition=REDS4",
    )
    dm = instantiate(cfg.data)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    _check_batch(batch, 2, 3)
    assert [c.name for c in dm.val_dataset.clips] == ["000", "011", "015", "020"]


def test_wrong_root_fails_at_setup_with_the_folder_named(tmp_path: Path) -> None:
    cfg = _compose("reds", "bicubic", f"data.root={tmp_path / 'REDS'}")
    dm = instantiate(cfg.data)  # composing and instantiating never touches the disk
    with pytest.raises(FileNotFoundError, match=r"expected a folder at .*REDS/train_sharp"):
        dm.setup("fit")


class _Bicubic(LightningModule):
    """A one-parameter model: enough to drive the Trainer through the DataModule."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(()))
        self.scales: list[int] = []

    def _loss(self, batch: dict) -> torch.Tensor:
        s = int(batch["scale"][0])
        self.scales.append(s)
        centre = batch["lr"][:, batch["lr"].shape[1] // 2]
        up = torch.nn.functional.interpolate(centre, scale_factor=s, mode="bicubic")
        return torch.nn.functional.l1_loss(self.gain * up, batch["hr"])

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.log("val/l1", self._loss(batch), batch_size=batch["lr"].shape[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trainer_runs_on_the_datamodule(reds_root: Path) -> None:
    dm = _datamodule(reds_root, val={"max_windows": 2})
    model = _Bicubic()
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=3,
        limit_val_batches=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 3
    assert len(model.scales) >= 3 and set(model.scales) <= {2, 3, 4}
    assert "val/l1" in trainer.callback_metrics
