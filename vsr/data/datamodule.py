"""The LightningDataModule: clip sources + degradation config -> batches of the agreed format.

Hydra builds it from ``conf/data/<layout>.yaml`` (on ``conf/data/base.yaml``): the ``train`` and
``val`` nodes become :class:`TrainOptions` and :class:`ValOptions` (``_target_`` nodes, each
holding its clip source), ``degradation`` is ``conf/degradation/<name>.yaml`` (a
:class:`~vsr.data.sampling.DegradationSampler`) and ``num_frames`` is the model's. Sources
scan the disk only in :meth:`VSRDataModule.setup`, so a config instantiates without data.

Batches: ``lr`` (B, T, 3, h, w), ``hr`` (B, 3, s*h, s*w), ``scale`` (B,) one value per batch,
``degradation`` (B,), ``strength`` (B,), ``key`` list[str].
"""

from __future__ import annotations

from dataclasses import dataclass

from lightning import LightningDataModule
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from vsr.data.clips import ClipSource
from vsr.data.datasets import TrainDataset, ValDataset
from vsr.data.sampling import DegradationSampler, GroupedBatchSampler, ScaleBatchSampler


@dataclass
class TrainOptions:
    """What training reads and how it batches and augments it.

    Args:
        source: the layout to read.
        patch_size: HR crop size (rounded down to a multiple of each scale).
        batch_size: samples per batch.
        num_workers: loader worker processes.
        min_texture, crop_tries: redraw flat crops (see :class:`vsr.data.datasets.TrainDataset`);
            0 keeps every crop.
        flip, rot90, reverse: augmentations.
        compression_context, compression_margin: frames before and after the window, and LR
            pixels around the crop, that compressed samples are encoded with (see
            :class:`vsr.data.datasets.TrainDataset`).
    """

    source: ClipSource
    patch_size: int = 256
    batch_size: int = 8
    num_workers: int = 4
    min_texture: float = 0.0
    crop_tries: int = 8
    flip: bool = True
    rot90: bool = True
    reverse: bool = True
    compression_context: int = 8
    compression_margin: int = 8


@dataclass
class ValOptions:
    """What validation reads and which windows of it.

    Args:
        source: the layout to read.
        batch_size: windows per batch (1 allows clips of different sizes).
        num_workers: loader worker processes.
        padding: ``"reflect"`` or ``"replicate"`` window padding at clip ends.
        crop_size: HR centre crop (whole frames when None).
        frame_stride: validate every n-th frame.
        max_windows: cap on windows per (scale, degradation).
    """

    source: ClipSource
    batch_size: int = 1
    num_workers: int = 2
    padding: str = "reflect"
    crop_size: int | None = None
    frame_stride: int = 1
    max_windows: int | None = None


class VSRDataModule(LightningDataModule):
    """Training and validation data for one dataset layout.

    Args:
        train: training data and loader options (None: no training, e.g. evaluation only).
        val: validation data and loader options (None: no validation).
        degradation: kinds, probabilities, strength ranges and scales.
        num_frames: frames per window (odd; the model's ``num_frames``).
        use_precomputed: use matching precomputed LR folders when present.
        pin_memory: pin host memory for faster GPU copies.
        seed: seeds the per-batch scale sequence and validation degradations.
        root: the dataset root, only for messages (the sources hold their own paths).
    """

    def __init__(
        self,
        train: TrainOptions | None,
        val: ValOptions | None,
        degradation: DegradationSampler,
        num_frames: int = 5,
        use_precomputed: bool = True,
        pin_memory: bool = True,
        seed: int = 0,
        root: str | None = None,
    ) -> None:
        super().__init__()
        self.train = train
        self.val = val
        self.degradation = degradation
        self.num_frames = num_frames
        self.use_precomputed = use_precomputed
        self.pin_memory = pin_memory
        self.seed = seed
        self.root = root
        self.train_dataset: TrainDataset | None = None
        self.val_dataset: ValDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Scan the sources and build the datasets needed for ``stage``."""
        if stage in (None, "fit") and self.train_dataset is None and self.train is not None:
            t = self.train
            self.train_dataset = TrainDataset(
                t.source,
                self.degradation,
                num_frames=self.num_frames,
                patch_size=t.patch_size,
                flip=t.flip,
                rot90=t.rot90,
                reverse=t.reverse,
                use_precomputed=self.use_precomputed,
                min_texture=t.min_texture,
                crop_tries=t.crop_tries,
                compression_context=t.compression_context,
                compression_margin=t.compression_margin,
            )
        if stage in (None, "fit", "validate") and self.val_dataset is None and self.val is not None:
            v = self.val
            self.val_dataset = ValDataset(
                v.source,
                self.degradation,
                num_frames=self.num_frames,
                padding=v.padding,
                crop_size=v.crop_size,
                frame_stride=v.frame_stride,
                max_windows=v.max_windows,
                use_precomputed=self.use_precomputed,
                seed=self.seed,
            )

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        if self.train is None or self.train_dataset is None:
            raise RuntimeError("no training data: the data config sets no train source")
        # Built here (inside Lightning's hook) so Lightning can swap in a DistributedSampler.
        batch_sampler = ScaleBatchSampler(
            RandomSampler(self.train_dataset),
            batch_size=self.train.batch_size,
            drop_last=len(self.train_dataset) >= self.train.batch_size,
            scales=self.degradation.scales,
            scale_probs=self.degradation.scale_probs.tolist(),
            seed=self.seed,
        )
        return DataLoader(
            self.train_dataset,
            batch_sampler=batch_sampler,
            num_workers=self.train.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.train.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.val_dataset is None:
            self.setup("validate")
        if self.val is None or self.val_dataset is None:
            return []  # Lightning skips validation for an empty list
        batch_sampler = GroupedBatchSampler(
            SequentialSampler(self.val_dataset),
            batch_size=self.val.batch_size,
            drop_last=False,
            groups=self.val_dataset.groups,
        )
        return DataLoader(
            self.val_dataset,
            batch_sampler=batch_sampler,
            num_workers=self.val.num_workers,
            pin_memory=self.pin_memory,
        )

    def __repr__(self) -> str:
        return (
            f"VSRDataModule(train={self.train!r}, val={self.val!r}, "
            f"frames={self.num_frames}, {self.degradation!r})"
        )
