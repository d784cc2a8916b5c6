"""Memory: how much a run may use, and how much the network needs at a given tile size.

The default budget is a share of the memory actually free when the run starts (the cgroup
limit of a container or job, /proc/meminfo's MemAvailable, or free GPU memory), so
``vsr-upscale`` picks tiles that fit the machine it is on instead of assuming one.

Peaks are measured, not guessed from layer formulas: :class:`PeakMemory` follows every
tensor storage PyTorch allocates while a function runs (a dispatch mode, so it sees the
real dtypes under autocast, channels-last, the compiled operator, any preset) and records
the largest total alive at once. Activations grow linearly with the number of pixels, so two
small probe runs give ``bytes = fixed + per_pixel * pixels`` for any tile size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from vsr.inference.errors import InferenceError

#: Share of the available memory a run uses by default: the rest stays free for the decoder,
#: the encoder's look-ahead, the OS page cache and other programs.
DEFAULT_MEMORY_FRACTION = 0.5
#: Cap of the default CPU budget for the network's tensors. At 1.5 GB the tiles are already so
#: large that their context costs little (1080p at x2: 10 % extra work, 8 % at 2 GB), so more
#: memory buys little speed, while the process itself (~1 GB) and the encoder (1.3 GB for 4K
#: output, 3.3 GB for 8K) need their share: measured at 1080p x2, a run peaks at 3.7 GB with
#: this cap and at 4.8 GB with 2 GB.
DEFAULT_CPU_BUDGET_CAP = 3 * 2**29  # 1.5 GiB
#: GPU memory is the run's own: most of the free memory may be used.
DEFAULT_CUDA_FRACTION = 0.8

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """``"3G"``, ``"512M"``, ``"1.5GB"`` or a byte count -> bytes."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        number = -1.0
    if number <= 0:
        raise InferenceError(
            f"--max-memory {text!r} is not a size: give a positive amount such as 3G or 800M"
        )
    return int(number * _UNITS[unit])


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) -> None


def _cgroup_free() -> int | None:
    """Bytes left under this process's cgroup memory limit (v2, else v1), or None."""
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        limit = _read_int(Path("/sys/fs/cgroup") / limit_file)
        usage = _read_int(Path("/sys/fs/cgroup") / usage_file)
        # cgroup v1 reports "no limit" as a huge number.
        if limit is not None and usage is not None and limit < 2**60:
            return max(limit - usage, 0)
    return None


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # other Unix systems: free physical pages
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_memory(device: torch.device) -> int:
    """Bytes this process can still allocate on ``device`` without running it out."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # Memory PyTorch holds in its cache but does not use is free for us too.
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    candidates = [m for m in (_cgroup_free(), _mem_available()) if m is not None]
    if not candidates:
        raise InferenceError(
            "cannot tell how much memory is free on this system: pass --max-memory (e.g. 3G) "
            "or a fixed --tile"
        )
    return min(candidates)


def default_budget(device: torch.device) -> int:
    """The memory a run may use when the user sets no ``--max-memory``."""
    free = available_memory(device)
    if device.type == "cuda":
        return int(DEFAULT_CUDA_FRACTION * free)
    return int(min(DEFAULT_MEMORY_FRACTION * free, DEFAULT_CPU_BUDGET_CAP))


class PeakMemory(TorchDispatchMode):
    """Peak bytes of tensor storage alive at once while the ``with`` block runs.

    Counts the storages created inside the block (inputs that existed before are the
    caller's). Views share their base's storage and are not counted twice.

    Example:
        >>> with PeakMemory() as peak:
        ...     y = torch.ones(1000).mul(2)
        >>> peak.bytes
        8000
    """

    def __init__(self) -> None:
        super().__init__()
        self._alive: dict[int, tuple[StorageWeakRef, int]] = {}
        self._current = 0
        self.bytes = 0

    def _forget_freed(self) -> None:
        for key in [k for k, (ref, _) in self._alive.items() if ref.expired()]:
            self._current -= self._alive.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        # The arguments are still alive during the call; what was freed before it no longer
        # counts, what the call creates is added on top of them.
        self._forget_freed()
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage._cdata
                if key not in self._alive:
                    self._alive[key] = (StorageWeakRef(storage), storage.nbytes())
                    self._current += storage.nbytes()
        self.bytes = max(self.bytes, self._current)
        return out


@dataclass(frozen=True)
class LinearCost:
    """``fixed + per_pixel * pixels`` bytes."""

    fixed: float
    per_pixel: float

    def __call__(self, pixels: int) -> int:
        return int(self.fixed + self.per_pixel * pixels)


def measure_cost(
    run: Callable[[int, int], object], sizes: tuple[tuple[int, int], ...] = ((32, 32), (64, 64))
) -> LinearCost:
    """Fit the peak memory of ``run(height, width)`` as a linear function of its pixels.

    Args:
        run: calls the network on inputs of the given size (the probe).
        sizes: two (height, width) probe sizes, small (they run for real).
    """
    (h0, w0), (h1, w1) = sizes
    peaks = []
    for h, w in sizes:
        with PeakMemory() as peak:
            run(h, w)
        peaks.append(peak.bytes)
    per_pixel = max((peaks[1] - peaks[0]) / (h1 * w1 - h0 * w0), 0.0)
    return LinearCost(max(peaks[0] - per_pixel * h0 * w0, 0.0), per_pixel)
