"""vsr-average: the weighted mean of exported files, checked tensor by tensor."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vsr.inference import load_model, save_model_file
from vsr.models import build_edvr
from vsr.training.average import AverageError, average_checkpoints, main


def _exported(path: Path, seed: int, **config) -> Path:
    torch.manual_seed(seed)
    model = build_edvr("tiny", trunk_conv="static", scales=(2,), **config)
    with torch.no_grad():  # zero-initialised layers would average to themselves
        for p in model.parameters():
            p.normal_(0, 0.1)
    return save_model_file(model, path, meta={"global_step": seed})


def test_weighted_mean_of_two_files(tmp_path: Path) -> None:
    a, b = _exported(tmp_path / "a.pt", 1), _exported(tmp_path / "b.pt", 2)
    averaged = average_checkpoints([a, b], tmp_path / "ab.pt", weights=[3, 1])
    first, second = load_model(a).state_dict(), load_model(b).state_dict()
    written = load_model(tmp_path / "ab.pt")
    for key, value in written.state_dict().items():
        if value.is_floating_point():
            expected = 0.75 * first[key].double() + 0.25 * second[key].double()
            torch.testing.assert_close(value.double(), expected, rtol=0, atol=1e-7)
        else:
            assert torch.equal(value, first[key])
    assert written.config == averaged.config
    sources = written.meta["average_of"]
    assert [s["weight"] for s in sources] == [0.75, 0.25]
    assert [s["meta"]["global_step"] for s in sources] == [1, 2]


def test_cli_equal_weights_and_clear_errors(tmp_path: Path, capsys) -> None:
    a, b = _exported(tmp_path / "a.pt", 1), _exported(tmp_path / "b.pt", 2)
    assert main([str(a), str(b), "-o", str(tmp_path / "mean.pt")]) == 0
    assert "mean of 2 files" in capsys.readouterr().out
    mean = load_model(tmp_path / "mean.pt").state_dict()
    key = next(k for k, v in mean.items() if v.is_floating_point())
    expected = (load_model(a).state_dict()[key] + load_model(b).state_dict()[key]) / 2
    torch.testing.assert_close(mean[key], expected)

    other = _exported(tmp_path / "other.pt", 3, num_extract_block=3)
    with pytest.raises(AverageError, match="num_extract_block"):
        average_checkpoints([a, other], tmp_path / "bad.pt")
    with pytest.raises(AverageError, match="at least two"):
        average_checkpoints([a], tmp_path / "bad.pt")
    with pytest.raises(AverageError, match="one non-negative number per input"):
        average_checkpoints([a, b], tmp_path / "bad.pt", weights=[1, -1])
    assert main([str(a), str(tmp_path / "missing.pt"), "-o", str(tmp_path / "bad.pt")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
    damaged = torch.load(b, weights_only=True)
    damaged["state_dict"].pop(next(iter(damaged["state_dict"])))
    torch.save(damaged, tmp_path / "damaged.pt")
    assert main([str(a), str(tmp_path / "damaged.pt"), "-o", str(tmp_path / "bad.pt")]) == 1
    assert "weights do not match" in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()


def test_a_shallower_trunk_joins_as_identity_blocks(tmp_path: Path) -> None:
    """A 4-block file averaged with a 6-block one (a run grown from it): the 4-block file
    counts as its deeper twin, blocks 4-5 being the identity (second convolution zero) with
    the deeper file's first convolutions, so the mean halves what those blocks add."""
    shallow = _exported(tmp_path / "shallow.pt", 1)
    deep = _exported(tmp_path / "deep.pt", 2, num_reconstruct_block=6)
    averaged = average_checkpoints([shallow, deep], tmp_path / "mean.pt")
    assert averaged.config["num_reconstruct_block"] == 6
    theirs, ours = load_model(shallow).state_dict(), load_model(deep).state_dict()
    written = load_model(tmp_path / "mean.pt")
    grown = 0
    for key, value in written.state_dict().items():
        if key in theirs:
            expected = (theirs[key].double() + ours[key].double()) / 2
        elif ".conv2." in key:  # reconstruction.{4,5}.conv2.*: zero in the shallow file
            expected, grown = ours[key].double() / 2, grown + 1
        else:
            expected = ours[key].double()
        torch.testing.assert_close(value.double(), expected, rtol=0, atol=1e-7)
    assert grown == 4  # weight and bias of two blocks
    assert [s["meta"]["global_step"] for s in written.meta["average_of"]] == [1, 2]
