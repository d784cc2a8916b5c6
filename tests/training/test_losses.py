"""Pixel losses against their formulas, computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from vsr.training import PixelLoss, charbonnier_loss


def test_charbonnier_matches_hand_computed_values() -> None:
    pred = torch.tensor([0.0, 1.0, 0.25], dtype=torch.float64)
    target = torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64)
    eps = 1e-3
    expected = [math.sqrt(0.25 + 1e-6), 1e-3, math.sqrt(0.0625 + 1e-6)]
    got = charbonnier_loss(pred, target, eps=eps, reduction="none")
    assert got.tolist() == pytest.approx(expected, rel=1e-12)
    assert float(charbonnier_loss(pred, target, eps=eps)) == pytest.approx(sum(expected) / 3)
    assert float(charbonnier_loss(pred, target, eps, "sum")) == pytest.approx(sum(expected))


def test_charbonnier_gradient_is_smooth_at_zero() -> None:
    # L1 has a kink at 0; Charbonnier's gradient (x / sqrt(x^2 + eps^2)) is 0 there.
    pred = torch.zeros(3, requires_grad=True)
    charbonnier_loss(pred, torch.zeros(3), eps=1e-3, reduction="sum").backward()
    assert pred.grad.tolist() == [0.0, 0.0, 0.0]
    x = torch.tensor([2e-3], dtype=torch.float64, requires_grad=True)
    charbonnier_loss(x, torch.zeros(1, dtype=torch.float64), eps=1e-3, reduction="sum").backward()
    assert float(x.grad) == pytest.approx(2e-3 / math.sqrt(4e-6 + 1e-6))


@pytest.mark.parametrize("mode,expected", [("l1", (0.5 + 0.25) / 3), ("mse", (0.25 + 0.0625) / 3)])
def test_l1_and_mse_modes(mode: str, expected: float) -> None:
    pred = torch.tensor([[0.0, 1.0, 0.25]])
    target = torch.tensor([[0.5, 1.0, 0.0]])
    assert float(PixelLoss(mode, weight=2.0)(pred, target)) == pytest.approx(2 * expected)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown loss mode 'l3'"):
        PixelLoss("l3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ in shape"):
        charbonnier_loss(torch.zeros(2), torch.zeros(3))
