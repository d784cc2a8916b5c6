"""Device, precision and thread choices for inference."""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from vsr.inference.errors import InferenceError

if TYPE_CHECKING:  # torch is imported where used, so ``vsr-upscale --help`` answers at once
    import torch

log = logging.getLogger("vsr.inference")

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
#: Default context around each tile, in input pixels (see ``tiling.tiled_forward``): the
#: tiny preset's output stops changing (< 0.01/255) at 16 even with a strongly amplified
#: residual; larger presets may want 24-32.
DEFAULT_TILE_OVERLAP = 16


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU. Asking for CUDA without one is an error."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device not in DEVICES and not device.startswith("cuda:"):
        raise InferenceError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InferenceError("--device cuda was requested but no CUDA GPU is available; use cpu")
    if device == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # All cores this process may use: PyTorch's default can be lower inside containers
        # and job schedulers (the affinity mask is what the scheduler actually grants).
        # An explicit OMP_NUM_THREADS wins (torchrun sets 1 per process to share cores).
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        torch.set_num_threads(cores or os.cpu_count() or 1)
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware.

    x86: AVX-512 BF16 (AMD Zen 4 and later, Intel Cooper Lake) or AMX (Intel Sapphire Rapids
    and later), as PyTorch reports them; Arm: the BF16 extension (Graviton 3, Neoverse
    V1/N2 and later) from the kernel's feature list. Without it, oneDNN emulates bf16 and a
    bf16 convolution runs several times slower than fp32 (10x measured on an AVX2-only EPYC).
    """
    import torch

    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return True
    return _arm_has_bf16()


def cpu_prefers_bf16() -> bool:
    """Whether bf16 is the faster choice for convolutions on this CPU: AMX on x86, Arm's
    BF16 (BFMMLA), or AVX-512 BF16 on AMD (Zen 4 and later).

    AVX-512 BF16 alone is not enough on Intel: on an AVX-512 BF16 Xeon without AMX, oneDNN's
    bf16 3x3 convolutions measured 0.6-0.85x the speed of fp32 (64-128 channels, 360x640).
    On an AMD EPYC Zen 5 the same convolutions run 1.7-2.1x faster in bf16 than in fp32.
    """
    import torch

    if torch.cpu._is_amx_tile_supported() or _arm_has_bf16():
        return True
    return torch.cpu._is_avx512_bf16_supported() and _cpu_vendor() == "AuthenticAMD"


def _cpu_vendor() -> str:
    """The x86 vendor string (``AuthenticAMD``, ``GenuineIntel``), or "" where unknown."""
    return _cpuinfo_field("vendor_id")


def _arm_has_bf16() -> bool:
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "bf16" in _cpuinfo_field("Features").split()
    return False


def _cpuinfo_field(name: str) -> str:
    """The value of the first ``name : value`` line of /proc/cpuinfo, or "" where absent."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> bf16 where it is faster (CUDA GPUs that have it; the CPUs of
    :func:`cpu_prefers_bf16`), else fp16 on CUDA, fp32 on the CPU.

    On the CPU ``bf16`` may also be forced (it runs everywhere, slowly without native
    support, which is logged); ``fp16`` is CUDA only: CPUs have no fast float16 convolutions
    and the CPU operator has no float16 kernel.
    """
    import torch

    if precision not in PRECISIONS:
        raise InferenceError(
            f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
        )
    if device.type != "cuda":
        if precision == "auto":
            return "bf16" if cpu_prefers_bf16() else "fp32"
        if precision == "fp16":
            raise InferenceError(
                "precision fp16 runs on CUDA GPUs only; on the CPU use bf16 or fp32"
            )
        if precision == "bf16" and not cpu_has_native_bf16():
            log.warning(
                "this CPU has no native bf16 (AVX-512 BF16, AMX or Arm BF16): bf16 is emulated "
                "and slower than fp32 here; --precision auto picks the faster one"
            )
        return precision
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """Mixed-precision context for the forward pass (weights stay fp32)."""
    import torch

    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    if precision in dtypes and device.type in ("cuda", "cpu"):
        # Convolutions, linear layers and the deformable operator run in bf16/fp16 with
        # fp32 accumulation; what autocast does not list stays fp32, notably the bicubic
        # base image and its sum with the network's residual.
        return torch.autocast(device.type, dtype=dtypes[precision])
    return nullcontext()


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse instead of returning it to the OS.

    By default glibc serves every allocation over 32 MB with a fresh ``mmap`` and unmaps it
    on free, so each large activation of a network at 720p-1080p is mapped, zero-filled page
    by page by the kernel, and unmapped again, per layer and per frame: measured at 1080p,
    a third of the CPU time went to the kernel (8.4 s system for 20 s user per strip) and the
    run took twice as long. PyTorch's CPU tuning guide recommends jemalloc or tcmalloc for
    this; these two settings give glibc's own allocator the same behaviour. Peak memory is
    unchanged (memory is reused, not added); the process just keeps its peak until it ends.
    A no-op on other C libraries.
    """
    global _KEPT
    if _KEPT or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return
    m_trim_threshold, m_mmap_max = -1, -4  # from glibc's malloc.h
    mallopt(m_mmap_max, 0)  # large blocks from the heap, reused after free
    mallopt(m_trim_threshold, 2**31 - 1)  # (an int) never shrink the heap while running
    _KEPT = True


_KEPT = False
