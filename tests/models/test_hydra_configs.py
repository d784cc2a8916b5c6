"""The Hydra model config instantiates every preset and accepts overrides."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import CONF_DIR
from vsr.models import PRESETS

CONFIG = CONF_DIR / "model" / "edvr.yaml"


def _config(*overrides: str):
    return OmegaConf.merge(OmegaConf.load(CONFIG), OmegaConf.from_dotlist(list(overrides)))


def test_model_config_targets_the_builder() -> None:
    cfg = OmegaConf.load(CONFIG)
    assert cfg._target_ == "vsr.models.build_edvr" and cfg.preset in PRESETS


@pytest.mark.parametrize("preset", ["tiny", "m", "l"])
def test_preset_is_a_value(preset: str) -> None:
    cfg = _config(f"preset={preset}", "num_frames=3", "scales=[4]", "num_reconstruct_block=1")
    model = instantiate(cfg)
    assert model.config["preset"] == preset
    assert model.config["num_feat"] == PRESETS[preset]["num_feat"]
    assert model.num_frames == model.config["num_frame"] == 3  # the configs' num_frames


def test_tiny_config_instantiates_with_trunk_override() -> None:
    model = instantiate(_config("preset=tiny", "trunk_conv=dynamic", "scales=[2,4]"))
    assert model.trunk_conv == "dynamic" and model.scales == (2, 4)
    assert model.config["num_feat"] == 32
