"""The agreed .pt format: round trip and clear errors for files that are not ours."""

from __future__ import annotations

import pytest
import torch
from inference_testdata import tiny_model

import vsr.inference.checkpoint as ckpt
from vsr.inference import CheckpointError, load_model, save_model_file


def test_round_trip_same_outputs(tmp_path):
    model = tiny_model(seed=3)
    path = save_model_file(model, tmp_path / "m.pt", meta={"steps": 12})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "vsr-edvr" and payload["version"] == 1
    assert payload["model_config"] == model.config and payload["meta"] == {"steps": 12}
    loaded = load_model(path)
    assert not loaded.training and loaded.meta == {"steps": 12}
    x = torch.rand(1, 5, 3, 16, 20)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, 2), model(x, 2), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*partial*"))


def test_file_holds_architecture_only(tmp_path):
    payload = torch.load(save_model_file(tiny_model(), tmp_path / "m.pt"), weights_only=True)
    assert set(payload) == {"format", "version", "model_config", "state_dict", "meta"}
    assert set(payload["model_config"]) == {
        "preset", "num_feat", "num_frame", "deformable_groups", "num_extract_block",
        "num_reconstruct_block", "with_tsa", "trunk_conv", "scales", "num_experts", "cond_dim",
        "routing_content", "num_hr_feat", "max_offset", "base_upsample",
    }


def test_older_file_with_a_retired_option_loads_the_same_model(tmp_path):
    """Files written before the offset warning left the model still name its threshold."""
    model = tiny_model(seed=4)
    path = save_model_file(model, tmp_path / "old.pt")
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["offset_warn_threshold"] = 50.0
    torch.save(payload, path)
    loaded = load_model(path)
    assert loaded.config == model.config
    x = torch.rand(1, 5, 3, 8, 12)
    with torch.no_grad():
        assert torch.equal(loaded(x, 3), model(x, 3))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.pt"):
        load_model(tmp_path / "nope.pt")


def test_default_missing_tells_to_pass_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "DEFAULT_CHECKPOINT", tmp_path / "vsr_tiny.pt")
    with pytest.raises(CheckpointError, match="pass --checkpoint PATH"):
        load_model(None)


def test_default_is_used_when_present(tmp_path, monkeypatch):
    path = save_model_file(tiny_model(), tmp_path / "vsr_tiny.pt")
    monkeypatch.setattr(ckpt, "DEFAULT_CHECKPOINT", path)
    assert load_model().config == tiny_model().config


@pytest.mark.parametrize(
    "content",
    [{"state_dict": {}}, [1, 2, 3], {"format": "lightning", "version": 1}],
)
def test_foreign_dict_is_not_ours(tmp_path, content):
    path = tmp_path / "other.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match="is not a vsr checkpoint"):
        load_model(path)


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="is not a vsr checkpoint"):
        load_model(path)


def test_unknown_version(tmp_path):
    path = save_model_file(tiny_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["version"] = 7
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="format version 7; this vsr reads version 1"):
        load_model(path)


def test_weights_not_matching_config(tmp_path):
    path = save_model_file(tiny_model(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["num_feat"] = 16
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_model(path)
