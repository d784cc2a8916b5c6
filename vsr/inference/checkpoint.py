"""The exported checkpoint format (``.pt``) shared by training export, inference and eval.

A file holds ``{"format": "vsr-edvr", "version": 1, "model_config": model.config,
"state_dict": model.state_dict(), "meta": {...}}``; ``build_edvr(**model_config)`` rebuilds
the architecture, so a file is self-describing and needs no Hydra config to load. The config
holds architecture only; options older files also hold (see
:data:`vsr.models.presets.RETIRED_OPTIONS`) are dropped when a file is read.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from vsr.inference.errors import CheckpointError
from vsr.resources import CHECKPOINT_DIR

FORMAT = "vsr-edvr"
VERSION = 1
#: The shipped default weights (inside an installed wheel, or in a checkout's checkpoints/).
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "vsr_tiny.pt"


def save_model_file(model: torch.nn.Module, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``model`` in the agreed format, atomically (temporary name, then rename).

    Args:
        model: an EDVR from :func:`vsr.models.build_edvr` (needs ``model.config``).
        path: destination ``.pt`` file.
        meta: free-form facts (training steps, data, metrics), plain Python values.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Load and validate a checkpoint file's dict (on the CPU) without building the model.

    Raises:
        CheckpointError: missing file, not a vsr checkpoint, unknown version.
    """
    if checkpoint is None:
        if not DEFAULT_CHECKPOINT.exists():
            raise CheckpointError(
                f"no --checkpoint given and the shipped default weights {DEFAULT_CHECKPOINT} "
                "are not installed; pass --checkpoint PATH (a .pt file exported by vsr training)"
            )
        checkpoint = DEFAULT_CHECKPOINT
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        # weights_only: a checkpoint is data; never run code from a downloaded file.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a vsr checkpoint (torch.load failed: {first[:160]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = sorted(payload)[:6] if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not a vsr checkpoint (expected a dict with format {FORMAT!r}, found "
            f"{found}); export a Lightning .ckpt with vsr's export step first"
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('version')!r}; this vsr reads "
            f"version {VERSION}: upgrade vsr or re-export the checkpoint"
        )
    for key in ("model_config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(f"{path} is a damaged vsr checkpoint: {key!r} is missing")
    from vsr.models import stored_config

    payload["model_config"] = stored_config(payload["model_config"])
    return payload


def load_model(
    checkpoint: str | Path | None = None, device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """Build the EDVR a checkpoint describes, load its weights, return it in eval mode.

    Args:
        checkpoint: ``.pt`` file in the agreed format; None for the shipped default
            (``checkpoints/vsr_tiny.pt``).
        device: where to put the model.

    Raises:
        CheckpointError: missing file, not a vsr checkpoint, unknown version, or weights
            that do not fit the described architecture.
    """
    from vsr.models import build_edvr

    payload = read_checkpoint(checkpoint)
    try:
        model = build_edvr(**payload["model_config"])
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"{checkpoint or DEFAULT_CHECKPOINT}: weights do not match the model it describes "
            f"({first[:200]})"
        ) from None
    model.meta = payload.get("meta", {})
    return model.eval().to(device)
