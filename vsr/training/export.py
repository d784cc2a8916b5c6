"""``vsr-export``: a Lightning training checkpoint -> a small self-describing ``.pt``.

The output holds the model config and the EMA weights (or the raw weights with
``--no-ema``) in the format :func:`vsr.inference.load_model` reads, so ``vsr-upscale`` and
``vsr-eval`` need no Hydra config. Optimiser and scheduler state are dropped.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from vsr.command import run_command
from vsr.inference import save_model_file
from vsr.models import build_edvr, stored_config
from vsr.training.callbacks.ema import STATE_KEY as EMA_KEY
from vsr.training.errors import TrainingError

_PREFIX = "model."


class ExportError(TrainingError):
    """The checkpoint cannot be exported (the message names the file and the fix)."""


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ExportError(f"checkpoint not found: {path}")
    try:
        # weights_only: plain tensors and containers are all a vsr training checkpoint holds.
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"{path} could not be read as a checkpoint: {first[:200]}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ExportError(f"{path} is not a Lightning checkpoint (no 'state_dict' entry)")
    if "vsr" not in ckpt or "model_config" not in ckpt["vsr"]:
        raise ExportError(
            f"{path} was not written by vsr training (no model config inside); "
            "export checkpoints from logs/<task>/runs/<run>/checkpoints/"
        )
    return ckpt


def export_checkpoint(
    checkpoint: str | Path, output: str | Path, use_ema: bool = True
) -> torch.nn.Module:
    """Export ``checkpoint`` (a Lightning ``.ckpt``) to ``output`` (``.pt``).

    Args:
        checkpoint: a checkpoint written by :func:`vsr.training.run.train`.
        output: destination file (written atomically).
        use_ema: export the EMA weights (default); fall back to the raw weights with a
            note in ``meta`` when the run had no EMA callback.

    Returns:
        The exported network (eval mode), as :func:`vsr.inference.load_model` rebuilds it.

    Raises:
        ExportError: unreadable or foreign checkpoint, or weights that do not fit the config.
    """
    path = Path(checkpoint)
    ckpt = _load(path)
    config = stored_config(ckpt["vsr"]["model_config"])
    model = build_edvr(**config)
    ema = ckpt.get("callbacks", {}).get(EMA_KEY)
    if use_ema and ema is not None and ema.get("shadow") is not None:
        state, source = ema["shadow"], "ema"
    else:
        weights = ckpt["state_dict"]
        state = {k[len(_PREFIX) :]: v for k, v in weights.items() if k.startswith(_PREFIX)}
        source = "raw" if not use_ema else "raw (the run had no EMA)"
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ExportError(
            f"the weights in {path} do not fit its model config: {str(exc).splitlines()[0]}"
        ) from None
    meta = {
        "source": str(path.resolve()),
        "weights": source,
        "global_step": int(ckpt.get("global_step", 0)),
        "epoch": int(ckpt.get("epoch", 0)),
    }
    save_model_file(model, output, meta=meta)
    return model.eval()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsr-export",
        description="Export a vsr Lightning checkpoint to a small .pt (model config + EMA "
        "weights) for vsr-upscale and vsr-eval.",
    )
    parser.add_argument("checkpoint", type=Path, help="Lightning .ckpt written by vsr-train")
    parser.add_argument("output", type=Path, help="destination .pt file")
    parser.add_argument(
        "--no-ema", action="store_true", help="export the raw weights instead of the EMA"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit status (1 with a one-line error)."""
    args = build_parser().parse_args(argv)
    return run_command("vsr-export", lambda: _export(args))


def _export(args: argparse.Namespace) -> int:
    model = export_checkpoint(args.checkpoint, args.output, use_ema=not args.no_ema)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.output} ({n / 1e6:.2f} M parameters, {model.config['trunk_conv']} trunk)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
