"""``vsr-average``: the weighted mean of exported ``.pt`` files of one architecture.

Averaging the weights of runs that started from the same weights (a "model soup",
Wortsman et al. 2022) often keeps most of what each run gained and little of what each
lost: the shipped v5 is the mean of v4 and a fine-tune of v4 (checkpoints/README.md).
Every input must describe the same network, except that trunks may differ in depth: a file
with a shorter trunk (the source of a run grown through ``init_weights`` with more
``num_reconstruct_block``) joins as the deeper network it computes exactly, its missing
blocks being identity blocks. The output is an ordinary exported file.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from vsr.command import run_command
from vsr.inference import load_model, save_model_file
from vsr.training.errors import TrainingError


class AverageError(TrainingError):
    """The files cannot be averaged (the message names the file and the fix)."""


def average_checkpoints(
    inputs: Sequence[str | Path], output: str | Path, weights: Sequence[float] | None = None
) -> torch.nn.Module:
    """Write the weighted mean of ``inputs`` (exported ``.pt`` files) to ``output``.

    Args:
        inputs: two or more files of the same model config.
        output: destination ``.pt`` (written atomically).
        weights: one non-negative weight per input (normalised to sum to 1); equal if None.

    Returns:
        The averaged network (eval mode).

    Raises:
        AverageError: fewer than two inputs, bad weights, or files of different networks.
        CheckpointError: an input is missing, not a vsr checkpoint, or damaged.
    """
    paths = [Path(p) for p in inputs]
    if len(paths) < 2:
        raise AverageError("give at least two exported .pt files to average")
    weights = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise AverageError(
            f"--weights needs one non-negative number per input ({len(paths)}), not all "
            f"zero: got {weights}"
        )
    total = sum(weights)
    weights = [w / total for w in weights]

    # load_model validates each file (format, and weights that fit the network it describes).
    models = [load_model(p) for p in paths]
    deepest = max(models, key=lambda m: m.config["num_reconstruct_block"])
    models = [_as_deep_as(m, deepest) for m in models]
    config = models[0].config
    for path, other in zip(paths[1:], models[1:], strict=True):
        if other.config != config:
            changed = sorted(
                k for k in set(config) | set(other.config) if config.get(k) != other.config.get(k)
            )
            raise AverageError(
                f"{path} describes a different network than {paths[0]} (differs in "
                f"{', '.join(changed)}); only files of one architecture can be averaged"
            )
    states = [m.state_dict() for m in models]
    mean = {}
    for key, reference in states[0].items():
        if reference.is_floating_point():
            # summed in float64: the float32 mean does not depend on the order of the inputs.
            total_tensor = sum(w * s[key].double() for w, s in zip(weights, states, strict=True))
            mean[key] = total_tensor.to(reference.dtype)
        else:  # integer buffers (counters) are not averaged: the first file's are kept.
            mean[key] = reference
    model = models[0]
    model.load_state_dict(mean, strict=True)
    meta = {
        "weights": "average",
        "average_of": [
            {"file": str(p.resolve()), "weight": w, "meta": m.meta}
            for p, w, m in zip(paths, weights, models, strict=True)
        ],
    }
    save_model_file(model, output, meta=meta)
    return model.eval()


def _as_deep_as(model: torch.nn.Module, deepest: torch.nn.Module) -> torch.nn.Module:
    """``model`` grown to ``deepest``'s trunk depth when that is all that differs, else as is.

    The blocks it lacks become identity blocks (second convolution zero, as ``init_weights``
    grows a trunk) whose other weights are ``deepest``'s: any first convolution gives the
    identity, and this one makes the mean scale down what ``deepest``'s grown blocks add
    instead of mixing them with unrelated weights.
    """
    key = "num_reconstruct_block"
    if model.config[key] == deepest.config[key]:
        return model
    if {**model.config, key: 0} != {**deepest.config, key: 0}:
        return model  # a different network: the config check below names the difference
    grown = copy.deepcopy(deepest)
    grown.load_shallower_trunk(model.state_dict())
    grown.meta = model.meta
    return grown


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsr-average",
        description="Average the weights of exported .pt files of one architecture "
        "(a model soup) into a new .pt for vsr-upscale and vsr-eval.",
    )
    parser.add_argument("inputs", type=Path, nargs="+", help="two or more exported .pt files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="destination .pt")
    parser.add_argument(
        "--weights", type=float, nargs="+", default=None,
        help="one weight per input, normalised to sum to 1 (default: equal)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit status (1 with a one-line error)."""
    args = build_parser().parse_args(argv)
    return run_command("vsr-average", lambda: _average(args))


def _average(args: argparse.Namespace) -> int:
    model = average_checkpoints(args.inputs, args.output, args.weights)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.output} (mean of {len(args.inputs)} files, {n / 1e6:.2f} M parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
