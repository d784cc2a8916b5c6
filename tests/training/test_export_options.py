"""Export keeps architecture only, also from runs that stored more with the model."""

from __future__ import annotations

from pathlib import Path

import torch

from vsr.inference import read_checkpoint
from vsr.models import build_edvr
from vsr.training.export import export_checkpoint


def test_export_drops_options_older_runs_stored_with_the_model(tmp_path: Path) -> None:
    """Runs from before the offset warning left the model stored its threshold too."""
    model = build_edvr("tiny", trunk_conv="static", scales=(2,))
    old = tmp_path / "old.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "vsr": {"model_config": {**model.config, "offset_warn_threshold": 50.0}},
        },
        old,
    )
    exported = export_checkpoint(old, tmp_path / "old.pt", use_ema=False)
    assert exported.config == model.config
    assert read_checkpoint(tmp_path / "old.pt")["model_config"] == model.config
