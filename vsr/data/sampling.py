"""What to degrade with, and batch samplers that keep one scale per batch.

- :class:`DegradationSampler` holds the configured degradation kinds, their probabilities,
  strength ranges and scales (``conf/degradation/*.yaml`` instantiates it).
- :class:`ScaleBatchSampler` draws one scale per training batch and yields
  ``(index, scale)`` pairs, so all samples of a batch have the same LR/HR sizes and stack.
- :class:`GroupedBatchSampler` batches validation items without mixing scales.

Distributed training: both samplers subclass :class:`torch.utils.data.BatchSampler` and take
the index sampler as their first argument, ``sampler``. Lightning (``use_distributed_sampler``,
its default) re-creates them with a ``DistributedSampler`` in that place and every other
argument kept, so each rank batches its own shard. The scale sequence depends only on
``seed`` and the epoch, so all ranks train the same scale at the same step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler

from vsr.conditions import DEGRADATIONS, SCALES
from vsr.data.degradations import degrade


def _normalise_probs(probs: Sequence[float] | None, n: int, what: str) -> np.ndarray:
    if probs is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(list(probs), dtype=np.float64)
    if p.shape != (n,) or (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"{what} probabilities {list(probs)} must be {n} non-negative numbers")
    return p / p.sum()


class DegradationSampler:
    """The degradations and scales a run trains and validates on.

    Args:
        kinds: degradation kinds drawn per training sample (names from
            :data:`vsr.conditions.DEGRADATIONS`).
        probs: their probabilities (normalised; uniform when None).
        scales: scales drawn per training batch.
        scale_probs: their probabilities (uniform when None).
        val_kinds: kinds validated (each with each of ``val_scales``); default ``kinds``.
        val_scales: scales validated; default ``scales``.
        options: keyword arguments of :func:`vsr.data.degradations.degrade` (strength
            ranges, codec, ...), shared by training and validation.
    """

    def __init__(
        self,
        kinds: Sequence[str] = DEGRADATIONS,
        probs: Sequence[float] | None = None,
        scales: Sequence[int] = SCALES,
        scale_probs: Sequence[float] | None = None,
        val_kinds: Sequence[str] | None = None,
        val_scales: Sequence[int] | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.kinds = [str(k) for k in kinds]
        for kind in [*self.kinds, *(val_kinds or [])]:
            if kind not in DEGRADATIONS:
                raise ValueError(
                    f"unknown degradation {kind!r} in the degradation config: "
                    f"expected one of {', '.join(DEGRADATIONS)}"
                )
        if not self.kinds:
            raise ValueError("the degradation config lists no kinds")
        self.probs = _normalise_probs(probs, len(self.kinds), "degradation")
        self.scales = [int(s) for s in scales]
        if not self.scales or any(s < 1 for s in self.scales):
            raise ValueError(f"scales must be positive integers, got {list(scales)}")
        self.scale_probs = _normalise_probs(scale_probs, len(self.scales), "scale")
        self.val_kinds = [str(k) for k in (val_kinds if val_kinds is not None else self.kinds)]
        self.val_scales = [int(s) for s in (val_scales if val_scales is not None else scales)]
        self.options = dict(options or {})
        # OmegaConf lists arrive as ListConfig: make strength ranges plain tuples.
        for key, value in self.options.items():
            if not isinstance(value, (str, int, float)) and value is not None:
                self.options[key] = tuple(value)

    def sample_kind(self, rng: np.random.Generator) -> str:
        """Draw a degradation kind for one sample."""
        return self.kinds[int(rng.choice(len(self.kinds), p=self.probs))]

    def sample_scale(self, rng: np.random.Generator) -> int:
        """Draw a scale for one batch."""
        return self.scales[int(rng.choice(len(self.scales), p=self.scale_probs))]

    def apply(
        self, frames: np.ndarray, scale: int, kind: str, seed: int
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """:func:`vsr.data.degradations.degrade` with the configured options."""
        return degrade(frames, scale, kind, seed=seed, **self.options)

    def precomputed_matches(self, kind: str, meta: dict[str, Any] | None) -> bool:
        """Whether precomputed LR described by ``meta`` is what :meth:`apply` would produce.

        Bicubic has no parameters (the official REDS/Vimeo LR folders carry no metadata).
        Blur must have been made with the configured fixed sigma and kernel size. Noise and
        compression are random per sample, so they are always made on the fly.
        """
        if kind == "bicubic":
            return True
        if kind != "blur" or meta is None:
            return False
        sigma = self.options.get("blur_sigma", 1.6)
        size = self.options.get("blur_kernel_size", 13)
        params = meta.get("params", {})
        return (
            not isinstance(sigma, tuple)
            and params.get("blur_sigma") == float(sigma)
            and params.get("blur_kernel_size") == int(size)
        )

    def __repr__(self) -> str:
        return (
            f"DegradationSampler(kinds={self.kinds}, probs={self.probs.round(3).tolist()}, "
            f"scales={self.scales}, val_kinds={self.val_kinds}, val_scales={self.val_scales}, "
            f"options={self.options})"
        )


class ScaleBatchSampler(BatchSampler):
    """Batches of ``(index, scale)`` pairs with one scale drawn per batch.

    Args:
        sampler: index sampler (shuffling, or Lightning's ``DistributedSampler``).
        batch_size: samples per batch.
        drop_last: drop the last incomplete batch (training default True).
        scales: scales to draw from.
        scale_probs: their probabilities (uniform when None).
        seed: seeds the scale sequence; epoch ``e`` uses ``seed + e``.
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sequence[int],
        batch_size: int,
        drop_last: bool = True,
        scales: Sequence[int] = SCALES,
        scale_probs: Sequence[float] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.scales = [int(s) for s in scales]
        self.scale_probs = _normalise_probs(scale_probs, len(self.scales), "scale")
        self.seed = int(seed)
        self.epoch = 0
        self._epoch_set = False

    def set_epoch(self, epoch: int) -> None:
        """Use the scale sequence of ``epoch`` (otherwise each iteration advances one epoch)."""
        self.epoch = int(epoch)
        self._epoch_set = True

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:  # type: ignore[override]
        rng = np.random.default_rng(self.seed + self.epoch)
        if not self._epoch_set:
            self.epoch += 1
        self._epoch_set = False
        for batch in super().__iter__():
            scale = self.scales[int(rng.choice(len(self.scales), p=self.scale_probs))]
            yield [(int(i), scale) for i in batch]


class GroupedBatchSampler(BatchSampler):
    """Batches that never mix groups (validation items of different scales).

    Args:
        sampler: index sampler.
        batch_size: samples per batch.
        drop_last: drop incomplete batches.
        groups: group id of every dataset index (e.g. its scale).
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sequence[int],
        batch_size: int,
        drop_last: bool = False,
        groups: Sequence[int] = (),
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.groups = list(groups)

    def __iter__(self) -> Iterator[list[int]]:
        buckets: dict[int, list[int]] = {}
        for index in self.sampler:
            bucket = buckets.setdefault(self.groups[index], [])
            bucket.append(int(index))
            if len(bucket) == self.batch_size:
                yield bucket
                buckets[self.groups[index]] = []
        if not self.drop_last:
            for bucket in buckets.values():
                if bucket:
                    yield bucket

    def __len__(self) -> int:
        counts: dict[int, int] = {}
        for index in self.sampler:
            counts[self.groups[index]] = counts.get(self.groups[index], 0) + 1
        if self.drop_last:
            return sum(c // self.batch_size for c in counts.values())
        return sum(-(-c // self.batch_size) for c in counts.values())


def sample_seed() -> int:
    """A seed drawn from torch's RNG (seeded per worker by Lightning's ``seed_everything``)."""
    return int(torch.randint(0, 2**31 - 1, (1,)).item())
