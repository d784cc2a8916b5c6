"""The Hydra model configs instantiate the presets and accept overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


@pytest.mark.parametrize("name,preset", [("edvr_tiny", "tiny"), ("edvr_m", "m"), ("edvr_l", "l")])
def test_model_config_targets_the_preset(name: str, preset: str) -> None:
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert cfg._target_ == "vsr.models.build_edvr" and cfg.preset == preset


def test_tiny_config_instantiates_with_trunk_override() -> None:
    cfg = OmegaConf.merge(
        OmegaConf.load(CONF / "edvr_tiny.yaml"),
        OmegaConf.from_dotlist(["trunk_conv=dynamic", "scales=[2,4]"]),
    )
    model = instantiate(cfg)
    assert model.trunk_conv == "dynamic" and model.scales == (2, 4)
    assert model.config["num_feat"] == 32
