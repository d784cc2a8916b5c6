"""The LightningDataModule: clip sources + degradation config -> batches of the agreed format.

Hydra builds it from ``conf/data/<layout>.yaml`` (sources as ``_target_`` nodes) and
``conf/degradation/<name>.yaml`` (a :class:`~vsr.data.sampling.DegradationSampler`). Sources
scan the disk only in :meth:`VSRDataModule.setup`, so a config instantiates without data.

Batches: ``lr`` (B, T, 3, h, w), ``hr`` (B, 3, s*h, s*w), ``scale`` (B,) one value per batch,
``degradation`` (B,), ``strength`` (B,), ``key`` list[str].
"""

from __future__ import annotations

from lightning import LightningDataModule
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from vsr.data.clips import ClipSource
from vsr.data.datasets import TrainDataset, ValDataset
from vsr.data.sampling import DegradationSampler, GroupedBatchSampler, ScaleBatchSampler


class VSRDataModule(LightningDataModule):
    """Training and validation data for one dataset layout.

    Args:
        train_source: layout for training (None: no training data, e.g. evaluation only).
        val_source: layout for validation (None: no validation).
        degradation: kinds, probabilities, strength ranges and scales.
        num_frames: frames per window (odd; match the model's ``num_frames``).
        patch_size: HR training crop size (rounded down to a multiple of each scale).
        min_texture, crop_tries: redraw flat training crops (see
            :class:`vsr.data.datasets.TrainDataset`); 0 keeps every crop.
        batch_size: training batch size.
        val_batch_size: validation batch size (1 allows clips of different sizes).
        num_workers: training loader workers.
        val_num_workers: validation loader workers (default: ``num_workers``).
        pin_memory: pin host memory for faster GPU copies.
        flip, rot90, reverse: training augmentations.
        val_padding: ``"reflect"`` or ``"replicate"`` window padding at clip ends.
        val_crop_size: HR centre crop for validation (whole frames when None).
        val_frame_stride: validate every n-th frame.
        val_max_windows: cap on validation windows per (scale, degradation).
        use_precomputed: use matching precomputed LR folders when present.
        seed: seeds the per-batch scale sequence and validation degradations.
        root: the dataset root, only for messages (the sources hold their own paths).
    """

    def __init__(
        self,
        train_source: ClipSource | None,
        val_source: ClipSource | None,
        degradation: DegradationSampler,
        num_frames: int = 5,
        patch_size: int = 256,
        min_texture: float = 0.0,
        crop_tries: int = 8,
        batch_size: int = 8,
        val_batch_size: int = 1,
        num_workers: int = 4,
        val_num_workers: int | None = None,
        pin_memory: bool = True,
        flip: bool = True,
        rot90: bool = True,
        reverse: bool = True,
        val_padding: str = "reflect",
        val_crop_size: int | None = None,
        val_frame_stride: int = 1,
        val_max_windows: int | None = None,
        use_precomputed: bool = True,
        seed: int = 0,
        root: str | None = None,
    ) -> None:
        super().__init__()
        self.train_source = train_source
        self.val_source = val_source
        self.degradation = degradation
        self.num_frames = num_frames
        self.patch_size = patch_size
        self.crop_options = {"min_texture": min_texture, "crop_tries": crop_tries}
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size
        self.num_workers = num_workers
        self.val_num_workers = num_workers if val_num_workers is None else val_num_workers
        self.pin_memory = pin_memory
        self.augment = {"flip": flip, "rot90": rot90, "reverse": reverse}
        self.val_options = {
            "padding": val_padding,
            "crop_size": val_crop_size,
            "frame_stride": val_frame_stride,
            "max_windows": val_max_windows,
        }
        self.use_precomputed = use_precomputed
        self.seed = seed
        self.root = root
        self.train_dataset: TrainDataset | None = None
        self.val_dataset: ValDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Scan the sources and build the datasets needed for ``stage``."""
        if stage in (None, "fit") and self.train_dataset is None and self.train_source is not None:
            self.train_dataset = TrainDataset(
                self.train_source,
                self.degradation,
                num_frames=self.num_frames,
                patch_size=self.patch_size,
                use_precomputed=self.use_precomputed,
                **self.augment,
                **self.crop_options,
            )
        if (
            stage in (None, "fit", "validate")
            and self.val_dataset is None
            and self.val_source is not None
        ):
            self.val_dataset = ValDataset(
                self.val_source,
                self.degradation,
                num_frames=self.num_frames,
                use_precomputed=self.use_precomputed,
                seed=self.seed,
                **self.val_options,
            )

    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        if self.train_dataset is None:
            raise RuntimeError("no training data: the data config sets no train_source")
        # Built here (inside Lightning's hook) so Lightning can swap in a DistributedSampler.
        batch_sampler = ScaleBatchSampler(
            RandomSampler(self.train_dataset),
            batch_size=self.batch_size,
            drop_last=len(self.train_dataset) >= self.batch_size,
            scales=self.degradation.scales,
            scale_probs=self.degradation.scale_probs.tolist(),
            seed=self.seed,
        )
        return DataLoader(
            self.train_dataset,
            batch_sampler=batch_sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        if self.val_dataset is None:
            self.setup("validate")
        if self.val_dataset is None:
            return []  # Lightning skips validation for an empty list
        batch_sampler = GroupedBatchSampler(
            SequentialSampler(self.val_dataset),
            batch_size=self.val_batch_size,
            drop_last=False,
            groups=self.val_dataset.groups,
        )
        return DataLoader(
            self.val_dataset,
            batch_sampler=batch_sampler,
            num_workers=self.val_num_workers,
            pin_memory=self.pin_memory,
        )

    def __repr__(self) -> str:
        return (
            f"VSRDataModule(train={self.train_source!r}, val={self.val_source!r}, "
            f"frames={self.num_frames}, patch={self.patch_size}, batch={self.batch_size}, "
            f"{self.degradation!r})"
        )
