"""Training speed: iterations/s of the Lightning training step against a plain PyTorch loop.

The peer is the same network, loss and optimiser stepped by a hand-written loop (forward,
Charbonnier, backward, Adam); the ratio shows what Lightning and the training callbacks
(EMA, non-finite guard, offset monitor, temperature schedule) cost per iteration. Batches
are synthetic and already in memory, so data loading is not measured
(``benchmarks/bench_data.py`` does that).

- CPU (default): the tiny model at tiny_multi's size: batch 4, 48x48 HR crops (12x12 LR at
  x4), 5 frames, conditional dynamic trunk.
- ``--device cuda``: EDVR-M at batch 16, 256x256 HR crops (64x64 LR), bf16 autocast
  (Lightning ``precision="bf16-mixed"``; the peer uses ``torch.autocast``), with peak memory.

With ``--bf16`` the Lightning step is also timed in ``bf16-mixed`` (autocast: convolutions
and the deformable operator in bf16, float32 master weights) beside ``32-true``, and the
bf16 : fp32 speed ratio is printed. On the CPU this pays only where the CPU computes bf16
natively (AVX-512 BF16, AMX, Arm BF16); elsewhere bf16 is emulated and slower.

With ``--layouts`` the Lightning step is also timed with the weights channels-last
(``module.channels_last=true``) beside NCHW (the default), in alternating runs, and the
channels-last : NCHW speed ratio is printed. ``--blocks 16`` measures the shipped model's
trunk.

Usage (from the repository root)::

    python benchmarks/bench_train.py                  # tiny model, CPU (seconds)
    python benchmarks/bench_train.py --bf16 --batch 8 --crop 64 --threads 0   # fp32 vs bf16
    python benchmarks/bench_train.py --layouts --precision bf16-mixed --batch 8 --crop 120 \
        --blocks 16 --threads 0                      # channels-last vs NCHW, release recipe
    python benchmarks/bench_train.py --device cuda    # EDVR-M, batch 16, bf16
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import torch
from lightning import Callback, Trainer
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from vsr.models import build_edvr  # noqa: E402
from vsr.training import PixelLoss, VSRLitModule, WarmupCosineRestarts  # noqa: E402
from vsr.training.callbacks import (  # noqa: E402
    EMA,
    NonFiniteGuard,
    OffsetMonitor,
    TemperatureSchedule,
)

#: Per device: preset, batch size, HR crop, precision.
SETTINGS = {
    "cpu": {"preset": "tiny", "batch": 4, "crop": 48, "precision": "32-true"},
    "cuda": {"preset": "m", "batch": 16, "crop": 256, "precision": "bf16-mixed"},
}


class RepeatedBatch(Dataset):
    """The same random sample ``n`` times (x4, bicubic): no decoding in the measurement."""

    def __init__(self, n: int, frames: int, crop: int, scale: int = 4) -> None:
        g = torch.Generator().manual_seed(0)
        self.n = n
        self.lr = torch.rand(frames, 3, crop // scale, crop // scale, generator=g)
        self.hr = torch.rand(3, crop, crop, generator=g)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {
            "lr": self.lr,
            "hr": self.hr,
            "scale": torch.tensor(4),
            "degradation": torch.tensor(0),
            "strength": torch.tensor(0.0),
            "key": str(i),
        }


def make_model(preset: str, device: str, blocks: int | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    extra = {} if blocks is None else {"num_reconstruct_block": blocks}
    return build_edvr(preset, trunk_conv="cond_dynamic", scales=(2, 3, 4), **extra).to(device)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def plain_loop(args: argparse.Namespace, s: dict) -> float:
    """Iterations/s of a hand-written training loop (the peer)."""
    model = make_model(s["preset"], args.device, args.blocks).train()
    loss_fn = PixelLoss("charbonnier")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
    loader = DataLoader(RepeatedBatch(s["batch"], model.num_frames, s["crop"]), s["batch"])
    batch = {
        k: v.to(args.device) if torch.is_tensor(v) else v for k, v in next(iter(loader)).items()
    }
    bf16 = s["precision"] == "bf16-mixed"
    start = 0.0
    for i in range(args.warmup + args.steps):
        if i == args.warmup:
            sync(args.device)
            start = time.perf_counter()
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            sr = model(batch["lr"], batch["scale"], batch["degradation"], batch["strength"])
            loss = loss_fn(sr.float(), batch["hr"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(args.device)
    return args.steps / (time.perf_counter() - start)


class StepTimer(Callback):
    """Wall time from the start of step ``warmup`` to the end of training."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.seconds = warmup, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, idx) -> None:
        if trainer.global_step == self.warmup:
            sync(str(pl_module.device.type))
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        sync(str(pl_module.device.type))
        self.seconds = time.perf_counter() - self.start


def lightning_loop(args: argparse.Namespace, s: dict, channels_last: bool = False) -> float:
    """Iterations/s of VSRLitModule in a Trainer with the training callbacks."""
    model = make_model(s["preset"], "cpu", args.blocks)
    total = args.warmup + args.steps
    module = VSRLitModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-4, betas=(0.9, 0.99)),
        scheduler=functools.partial(LambdaLR, lr_lambda=WarmupCosineRestarts([total])),
        loss=PixelLoss("charbonnier"),
        lpips=False,
        seed=None,
        channels_last=channels_last,
    )
    timer = StepTimer(args.warmup)
    trainer = Trainer(
        accelerator="gpu" if args.device == "cuda" else "cpu",
        devices=1,
        precision=s["precision"],
        max_steps=total,
        callbacks=[EMA(), NonFiniteGuard(), OffsetMonitor(), TemperatureSchedule(), timer],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    data = DataLoader(RepeatedBatch(total * s["batch"], model.num_frames, s["crop"]), s["batch"])
    trainer.fit(module, train_dataloaders=data)
    return args.steps / timer.seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--steps", type=int, default=20, help="measured iterations")
    parser.add_argument("--warmup", type=int, default=3, help="iterations before timing")
    parser.add_argument("--batch", type=int, default=None, help="override the batch size")
    parser.add_argument("--crop", type=int, default=None, help="override the HR crop size")
    parser.add_argument("--bf16", action="store_true",
                        help="also time the Lightning step in bf16-mixed and print bf16 : fp32")
    parser.add_argument("--layouts", action="store_true",
                        help="also time the Lightning step with channels-last weights beside "
                        "NCHW and print the channels-last : NCHW speed ratio")
    parser.add_argument("--rounds", type=int, default=3,
                        help="--layouts: alternating runs of each layout (the median counts)")
    parser.add_argument("--precision", default=None,
                        help="override the precision (32-true, bf16-mixed)")
    parser.add_argument("--blocks", type=int, default=None,
                        help="trunk blocks (the preset's by default; the shipped model has 16)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU intra-op threads (default 1: with tiny tensors, extra OpenMP threads mostly "
        "spin, and on a shared machine they slow everything down; 0 keeps torch's default)",
    )
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU is visible to torch")
    s = dict(SETTINGS[args.device])
    if args.batch:
        s["batch"] = args.batch
    if args.crop:
        s["crop"] = args.crop
    if args.precision:
        s["precision"] = args.precision
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    blocks = f", {args.blocks} trunk blocks" if args.blocks else ""
    print(
        f"EDVR-{s['preset']}{blocks} cond_dynamic, batch {s['batch']}, "
        f"{s['crop']}x{s['crop']} HR crops (x4), {s['precision']}, {args.device}, "
        f"{torch.get_num_threads()} CPU thread(s), {args.steps} timed iterations"
    )
    peer = plain_loop(args, s)
    ours = lightning_loop(args, s)
    print(f"  plain PyTorch loop     {peer:8.2f} it/s   {peer * s['batch']:8.1f} samples/s")
    print(f"  Lightning + callbacks  {ours:8.2f} it/s   {ours * s['batch']:8.1f} samples/s")
    print(f"  ratio (ours / plain)   {ours / peer:8.2f}")
    if args.device == "cuda":
        print(f"  peak GPU memory        {torch.cuda.max_memory_allocated() / 2**30:8.2f} GiB")
    if args.bf16:
        from vsr.inference.runtime import cpu_has_native_bf16

        rates = {}
        for precision in ("32-true", "bf16-mixed"):
            rates[precision] = lightning_loop(args, {**s, "precision": precision})
            print(f"  Lightning {precision:11s}  {rates[precision]:8.2f} it/s")
        native = "native" if args.device == "cuda" or cpu_has_native_bf16() else "emulated"
        print(f"  bf16 : fp32 steps/s    {rates['bf16-mixed'] / rates['32-true']:8.2f}"
              f"   (bf16 is {native} on this {args.device.upper()})")
    if args.layouts:
        # Alternating runs, so that a drift of the machine's speed lands on both layouts.
        rates = {True: [], False: []}
        for _ in range(args.rounds):
            for channels_last in (True, False):
                rates[channels_last].append(lightning_loop(args, s, channels_last))
        median = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
        print(f"  Lightning channels-last {median[True]:7.2f} it/s (median of {args.rounds})")
        print(f"  Lightning NCHW          {median[False]:7.2f} it/s")
        print(f"  channels-last : NCHW steps/s {median[True] / median[False]:6.2f}")


if __name__ == "__main__":
    main()
