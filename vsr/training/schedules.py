"""Learning-rate schedule: linear warm-up, then cosine annealing with restarts.

Used as the ``lr_lambda`` of :class:`torch.optim.lr_scheduler.LambdaLR`, stepped once per
iteration. Being a factor on each parameter group's initial learning rate, it keeps the
ratio between groups (e.g. the lower rate of the DCN offset branches) at every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


class WarmupCosineRestarts:
    """Learning-rate factor at a given step (a picklable callable for ``LambdaLR``).

    Steps ``0 .. warmup_steps-1`` rise linearly from ``warmup_start`` to 1 (step ``i`` gets
    ``warmup_start + (1 - warmup_start) * (i + 1) / warmup_steps``). After the warm-up,
    cycle ``k`` of length ``periods[k]`` anneals from ``restart_weights[k]`` down to
    ``min_factor`` along a half cosine (EDVR's CosineAnnealingRestartLR):
    ``min + (w_k - min) * (1 + cos(pi * t / periods[k])) / 2`` for ``t`` steps into the
    cycle. Restarts happen at ``warmup_steps + sum(periods[:k])``; after the last cycle the
    factor stays at ``min_factor``.

    Args:
        periods: length of each cosine cycle in steps (EDVR-M on REDS: 4 x 150000).
        restart_weights: peak factor of each cycle (default all 1).
        min_factor: the floor, relative to the initial learning rate (EDVR: 1e-7 / 4e-4).
        warmup_steps: linear warm-up steps before the first cycle (0: none).
        warmup_start: factor of the first warm-up step's start.

    Example:
        >>> f = WarmupCosineRestarts(periods=[10, 10], warmup_steps=5)
        >>> [round(f(s), 3) for s in (0, 4, 5, 15)]
        [0.2, 1.0, 1.0, 1.0]
    """

    def __init__(
        self,
        periods: Sequence[int],
        restart_weights: Sequence[float] | None = None,
        min_factor: float = 0.0,
        warmup_steps: int = 0,
        warmup_start: float = 0.0,
    ) -> None:
        self.periods = [int(p) for p in periods]
        if not self.periods or any(p <= 0 for p in self.periods):
            raise ValueError(f"periods must be positive step counts, got {list(periods)}")
        weights = [1.0] * len(self.periods) if restart_weights is None else restart_weights
        self.restart_weights = [float(w) for w in weights]
        if len(self.restart_weights) != len(self.periods):
            raise ValueError(
                f"restart_weights ({len(self.restart_weights)}) must match periods "
                f"({len(self.periods)})"
            )
        if not 0.0 <= min_factor <= 1.0:
            raise ValueError(f"min_factor must be in [0, 1], got {min_factor}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.min_factor = float(min_factor)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start = float(warmup_start)

    def restarts(self) -> list[int]:
        """Steps at which a cosine cycle begins."""
        out, step = [], self.warmup_steps
        for p in self.periods:
            out.append(step)
            step += p
        return out

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup_start + (1.0 - self.warmup_start) * (step + 1) / self.warmup_steps
        t = step - self.warmup_steps
        for period, weight in zip(self.periods, self.restart_weights, strict=True):
            if t < period:
                cosine = 0.5 * (1.0 + math.cos(math.pi * t / period))
                return self.min_factor + (weight - self.min_factor) * cosine
            t -= period
        return self.min_factor

    def __repr__(self) -> str:
        return (
            f"WarmupCosineRestarts(periods={self.periods}, restart_weights="
            f"{self.restart_weights}, min_factor={self.min_factor}, "
            f"warmup_steps={self.warmup_steps})"
        )
