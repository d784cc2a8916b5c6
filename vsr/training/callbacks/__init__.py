"""Training callbacks: checkpoints, weight averaging, non-finite guard, offset monitor, temperature
schedule and validation images."""

from vsr.training.callbacks.checkpoint import Checkpoint
from vsr.training.callbacks.ema import EMA
from vsr.training.callbacks.guard import NonFiniteGuard
from vsr.training.callbacks.images import ValidationImages, comparison_strip
from vsr.training.callbacks.offsets import OffsetMonitor
from vsr.training.callbacks.temperature import TemperatureSchedule, temperature_at

__all__ = [
    "Checkpoint",
    "EMA",
    "NonFiniteGuard",
    "OffsetMonitor",
    "TemperatureSchedule",
    "ValidationImages",
    "comparison_strip",
    "temperature_at",
]
