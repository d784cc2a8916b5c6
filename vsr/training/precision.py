"""``trainer.precision=auto``: bf16 mixed precision where bf16 is the faster choice, else fp32.

On a CPU without bf16 in hardware (AVX2-only x86, for example), oneDNN emulates bf16 and a
``bf16-mixed`` run trains about 20 times fewer steps per hour than ``32-true`` (measured on an
AVX2-only AMD EPYC: about 1 against 23 steps a minute for the tiny model's v2 recipe), while
on a Xeon with AMX it trains 1.3 times more. Between the two, AVX-512 BF16 without matrix
units, bf16 convolutions run at 0.6-0.85x of fp32 (see :func:`cpu_prefers_bf16`). A recipe
meant for every machine therefore asks for ``auto`` and lets the machine decide, as
``vsr-upscale --precision auto`` does.
"""

from __future__ import annotations

import logging

import torch

from vsr.inference.runtime import cpu_has_native_bf16, cpu_prefers_bf16

log = logging.getLogger(__name__)

#: Lightning's names of the bf16 precisions.
BF16 = ("bf16-mixed", "bf16", "bf16-true")


def training_precision(precision: str | int, accelerator: str) -> str | int:
    """The Lightning precision to train with for ``trainer.precision`` on ``accelerator``.

    ``auto`` becomes ``bf16-mixed`` on a GPU with bf16 (``16-mixed`` on older GPUs) and on a
    CPU with bf16 matrix units (AMX, Arm BF16), ``32-true`` on other CPUs. Any other value
    is kept; an explicit bf16 on a CPU that would emulate it is kept too, with a warning.
    """
    on_gpu = accelerator in ("gpu", "cuda") or (
        accelerator == "auto" and torch.cuda.is_available()
    )
    if precision == "auto":
        if on_gpu:
            chosen = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        else:
            chosen = "bf16-mixed" if cpu_prefers_bf16() else "32-true"
        log.info("trainer.precision=auto: %s on this %s", chosen, "GPU" if on_gpu else "CPU")
        return chosen
    if not on_gpu and precision in BF16 and not cpu_has_native_bf16():
        log.warning(
            "trainer.precision=%s on a CPU without bf16 in hardware (no AVX-512 BF16 or AMX): "
            "it is emulated and trains about 20 times slower than fp32; "
            "trainer.precision=auto picks 32-true here",
            precision,
        )
    return precision
