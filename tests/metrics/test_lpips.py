"""The LPIPS wrapper: behaviour on a random backbone, weight loading, the missing-file error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from vsr.metrics import LPIPS, LPIPSWeightsMissing, default_backbone_path


@pytest.fixture(scope="module")
def random_lpips() -> LPIPS:
    return LPIPS(random_backbone_seed=0)


def _images(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # A smooth image (noise must stand out against the content for the ordering test).
    base = torch.rand(2, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(base, size=(48, 48), mode="bilinear")


def test_identical_images_score_zero(random_lpips: LPIPS) -> None:
    x = _images()
    d = random_lpips(x, x)
    assert d.shape == (2,)
    assert torch.equal(d, torch.zeros(2))


def test_more_noise_scores_more(random_lpips: LPIPS) -> None:
    x = _images(1)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    scores = [random_lpips(x, (x + s * noise).clamp(0, 1)) for s in (0.02, 0.08, 0.3)]
    assert (scores[0] > 0).all()
    assert (scores[0] < scores[1]).all() and (scores[1] < scores[2]).all()


def test_same_seed_same_backbone() -> None:
    a, b = LPIPS(random_backbone_seed=3), LPIPS(random_backbone_seed=3)
    x, y = _images(2), _images(3)
    torch.testing.assert_close(a(x, y), b(x, y))


def test_missing_backbone_names_file_and_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert default_backbone_path("alex") == expected
    with pytest.raises(LPIPSWeightsMissing) as err:
        LPIPS()
    msg = str(err.value)
    assert str(expected) in msg and "TORCH_HOME" in msg
    assert not expected.exists()  # nothing was downloaded
    with pytest.raises(LPIPSWeightsMissing, match="vgg16-397923af.pth"):
        LPIPS(net="vgg")
    given = tmp_path / "mine.pth"
    with pytest.raises(LPIPSWeightsMissing, match="mine.pth"):
        LPIPS(backbone_weights=given)


def test_backbone_loaded_from_torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A torchvision AlexNet checkpoint (only the convolutional part lpips uses, to keep the
    # file small) placed where torchvision caches it.
    torch.manual_seed(7)
    features = torchvision.models.alexnet().features.state_dict()
    state = {f"features.{k}": v for k, v in features.items()}
    path = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    metric = LPIPS()
    assert metric.backbone_path == path
    torch.testing.assert_close(
        getattr(metric.model.net.slice1, "0").weight, state["features.0.weight"]
    )
    torch.testing.assert_close(
        getattr(metric.model.net.slice5, "10").bias, state["features.10.bias"]
    )
    x = _images(4)
    assert torch.equal(metric(x, x), torch.zeros(2))

    # A file that is not the AlexNet checkpoint is named in the error.
    bad = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(LPIPSWeightsMissing, match="other.pth"):
        LPIPS(backbone_weights=bad)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_lpips_on_cuda_equals_cpu(random_lpips: LPIPS) -> None:
    x, y = _images(5), _images(6)
    gpu = LPIPS(device="cuda", random_backbone_seed=0)
    d = gpu(x, y)  # CPU inputs are moved to the metric's device
    assert d.device.type == "cuda"
    torch.testing.assert_close(d.cpu(), random_lpips(x, y), atol=1e-4, rtol=1e-3)
