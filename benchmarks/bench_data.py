"""Does data loading keep up with training? Samples/s of the REDS-style crop pipeline.

Builds a REDS-like clip in a temporary folder (720x1280 textured PNGs; or uses the real
Vimeo-90K septuplets in ../shared/data with --vimeo), then measures:

1. the cost of each degradation on one training window,
2. samples/s of the training DataLoader (random crop, augmentation, on-the-fly degradation)
   with 0 and 2 workers,
3. if ``vsr.models.build_edvr`` imports, the tiny model's training steps on the same batches,
   and the ratio loader samples/s : model samples/s (above 1 means loading keeps up).

    python benchmarks/bench_data.py                   # 100 frames 720x1280, all degradations
    python benchmarks/bench_data.py --degradation bicubic --workers 0 2 4 --device cuda
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from vsr.data.datasets import TrainDataset
from vsr.data.degradations import degrade
from vsr.data.frames import FrameFolderSource
from vsr.data.sampling import DegradationSampler, ScaleBatchSampler
from vsr.data.vimeo import VimeoSource

SHARED_VIMEO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "vimeo90k_mini"


def make_clip(folder: Path, frames: int, height: int, width: int) -> None:
    """Write a textured, moving clip as PNGs (noise + gradients, so PNG decoding is realistic)."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (height + 64, width + 64, 3)), (0, 0), 2.0)
    yy, xx = np.mgrid[0 : height + 64, 0 : width + 64]
    texture += 60 * np.sin(xx / 23.0)[..., None] * np.cos(yy / 17.0)[..., None]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        dy, dx = (i * 3) % 64, (i * 5) % 64  # global motion
        frame = texture[dy : dy + height, dx : dx + width] + rng.normal(0, 4, (height, width, 3))
        cv2.imwrite(str(folder / f"{i:08d}.png"), np.clip(frame, 0, 255).astype(np.uint8))


def time_degradations(sampler: DegradationSampler, frames: np.ndarray, scale: int) -> None:
    print(
        f"degradation cost on one {frames.shape[0]}x{frames.shape[1]}x{frames.shape[2]} window "
        f"at x{scale}:"
    )
    for kind in sampler.kinds:
        start = time.perf_counter()
        for seed in range(5):
            degrade(frames, scale, kind, seed=seed, **sampler.options)
        print(f"  {kind:12s} {(time.perf_counter() - start) / 5 * 1000:7.1f} ms")


def loader_rate(
    dataset: TrainDataset, sampler: DegradationSampler, batch_size: int, workers: int, batches: int
) -> tuple[float, dict]:
    """Samples/s after a warm-up of two batches; also returns the last batch."""
    batch_sampler = ScaleBatchSampler(
        RandomSampler(dataset), batch_size, True, scales=sampler.scales, seed=0
    )
    loader = DataLoader(
        dataset, batch_sampler=batch_sampler, num_workers=workers, persistent_workers=False
    )
    it = iter(loader)
    batch = next(it)
    next(it)
    start = time.perf_counter()
    done = 0
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        done += batch["lr"].shape[0]
    return done / (time.perf_counter() - start), batch


def model_rate(batch: dict, device: str, steps: int) -> float | None:
    """Training samples/s of the tiny EDVR on ``batch`` (None when the model is unavailable)."""
    try:
        from vsr.models import build_edvr

        model = build_edvr(preset="tiny").to(device)
    except Exception as exc:  # noqa: BLE001 - report any reason the model cannot run
        print(f"model step: skipped ({type(exc).__name__}: {exc})")
        return None
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    lr, hr = batch["lr"].to(device), batch["hr"].to(device)
    scale = int(batch["scale"][0])
    kind, strength = batch["degradation"].to(device), batch["strength"].to(device)
    if lr.shape[1] != model.num_frames:
        centre, half = lr.shape[1] // 2, model.num_frames // 2
        lr = lr[:, centre - half : centre + half + 1]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.l1_loss(model(lr, scale, kind, strength), hr)
        loss.backward()
        optimizer.step()

    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * lr.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100, help="frames of the generated clip")
    parser.add_argument("--size", default="720x1280", help="HxW of the generated clip")
    parser.add_argument("--vimeo", action="store_true", help="use ../shared/data/vimeo90k_mini")
    parser.add_argument(
        "--degradation", default="all", help="'all' or one of bicubic, blur, noise, compression"
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--num-frames", type=int, default=5)
    parser.add_argument("--patch-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=10, help="timed batches per setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model-steps", type=int, default=3, help="0 skips the model")
    args = parser.parse_args()

    kinds = (
        ["bicubic", "blur", "noise", "compression"]
        if args.degradation == "all"
        else [args.degradation]
    )
    sampler = DegradationSampler(
        kinds=kinds, scales=args.scales, options={"noise_sigma": (1.0, 30.0), "crf": (18, 35)}
    )
    with tempfile.TemporaryDirectory() as tmp:
        if args.vimeo:
            sequences = SHARED_VIMEO / "sequences"
            if not sequences.is_dir():
                raise SystemExit(f"--vimeo: {sequences} not found")
            ids = [
                f"{a.name}/{b.name}"
                for a in sorted(sequences.iterdir())
                for b in sorted(a.iterdir())
            ]
            list_file = Path(tmp) / "list.txt"
            list_file.write_text("\n".join(ids) + "\n")
            source = VimeoSource(sequences.parent, list_file=list_file, sequences_dir=sequences)
            what = f"Vimeo-90K mini ({len(ids)} septuplets, 448x256)"
        else:
            h, w = (int(v) for v in args.size.split("x"))
            start = time.perf_counter()
            make_clip(Path(tmp) / "clips" / "000", args.frames, h, w)
            print(f"wrote {args.frames} frames {w}x{h} in {time.perf_counter() - start:.1f} s")
            source = FrameFolderSource(Path(tmp) / "clips", split="all")
            what = f"REDS-like clip ({args.frames} frames, {w}x{h} PNG)"
        dataset = TrainDataset(
            source, sampler, num_frames=args.num_frames, patch_size=args.patch_size
        )
        print(
            f"data: {what}; {args.num_frames} frames, HR patch {args.patch_size}, "
            f"batch {args.batch_size}, degradations {kinds}, scales {args.scales}"
        )
        window = dataset.clips[0].read(list(range(args.num_frames)))
        time_degradations(sampler, window[:, : args.patch_size, : args.patch_size], 4)

        rates, batch = {}, None
        for workers in args.workers:
            rates[workers], batch = loader_rate(
                dataset, sampler, args.batch_size, workers, args.batches
            )
            print(f"loader, {workers} workers: {rates[workers]:7.1f} samples/s")
        assert batch is not None
        train = model_rate(batch, args.device, args.model_steps) if args.model_steps else None
        if train is not None:
            print(
                f"tiny EDVR training on {args.device}: {train:7.1f} samples/s "
                f"(x{int(batch['scale'][0])}, batch {batch['lr'].shape[0]})"
            )
            for workers, rate in rates.items():
                verdict = "keeps up" if rate >= train else "is the bottleneck"
                print(
                    f"ratio loader({workers} workers) / training = {rate / train:5.2f}: "
                    f"loading {verdict}"
                )


if __name__ == "__main__":
    main()
