"""``trainer.precision=auto``: bf16 mixed precision where the hardware computes bf16, else fp32.

On a CPU without bf16 in hardware (AVX2-only x86, for example), oneDNN emulates bf16 and a
``bf16-mixed`` run trains 10-20 times fewer steps per hour than ``32-true`` (measured on an
AVX2-only AMD EPYC with the tiny model's v2 recipe: about 1 step a minute, the cores partly
shared, against 20-23 in fp32), while with bf16 in hardware it trains more: 1.23x on an AMD
EPYC Zen 5 (AVX-512 BF16) and 1.30x on a Xeon with AMX (``benchmarks/bench_train.py
--bf16``; see checkpoints/README.md). A recipe meant for every machine therefore asks for
``auto`` and lets the machine decide.
"""

from __future__ import annotations

import logging

import torch

from vsr.inference.runtime import cpu_has_native_bf16

log = logging.getLogger(__name__)

#: Lightning's names of the bf16 precisions.
BF16 = ("bf16-mixed", "bf16", "bf16-true")


def training_precision(precision: str | int, accelerator: str) -> str | int:
    """The Lightning precision to train with for ``trainer.precision`` on ``accelerator``.

    ``auto`` becomes ``bf16-mixed`` on a GPU with bf16 (``16-mixed`` on older GPUs) and on a
    CPU with bf16 in hardware (AVX-512 BF16, AMX, Arm BF16), ``32-true`` on other CPUs. Any
    other value is kept; an explicit bf16 on a CPU that would emulate it is kept too, with a
    warning.
    """
    on_gpu = accelerator in ("gpu", "cuda") or (
        accelerator == "auto" and torch.cuda.is_available()
    )
    if precision == "auto":
        if on_gpu:
            chosen = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        else:
            chosen = "bf16-mixed" if cpu_has_native_bf16() else "32-true"
        log.info("trainer.precision=auto: %s on this %s", chosen, "GPU" if on_gpu else "CPU")
        return chosen
    if not on_gpu and precision in BF16 and not cpu_has_native_bf16():
        log.warning(
            "trainer.precision=%s on a CPU without bf16 in hardware (no AVX-512 BF16 or AMX): "
            "it is emulated and trains 10-20 times slower than fp32; "
            "trainer.precision=auto picks 32-true here",
            precision,
        )
    return precision
