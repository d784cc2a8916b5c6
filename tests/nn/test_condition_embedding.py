"""ConditionEmbedding: validation, per-sample batches, and the strength convention."""

from __future__ import annotations

import pytest
import torch

from vsr.nn import ConditionEmbedding


def test_unknown_scale_names_it_and_lists_valid_ones() -> None:
    emb = ConditionEmbedding(dim=4, scales=(2, 4))
    with pytest.raises(ValueError, match=r"unknown scale 3.*2, 4"):
        emb(3, "bicubic")


def test_unknown_degradation_names_it_and_lists_valid_ones() -> None:
    emb = ConditionEmbedding(dim=4)
    with pytest.raises(ValueError, match=r"unknown degradation 'jpeg'.*bicubic, blur"):
        emb(4, "jpeg")
    with pytest.raises(ValueError, match="unknown degradation id 7"):
        emb(4, torch.tensor([7]))


def test_batch_matches_single_samples_and_conditions_differ() -> None:
    torch.manual_seed(0)
    emb = ConditionEmbedding(dim=6)
    batch = emb([2, 3, 4], ["bicubic", "noise", "compression"], torch.tensor([0.0, 0.5, 0.9]))
    singles = torch.cat([emb(2, "bicubic", 0.0), emb(3, "noise", 0.5), emb(4, "compression", 0.9)])
    torch.testing.assert_close(batch, singles)
    assert len({tuple(v.tolist()) for v in batch}) == 3


def test_missing_strength_counts_as_zero() -> None:
    torch.manual_seed(0)
    emb = ConditionEmbedding(dim=6)
    with torch.no_grad():
        emb.strength_embed.weight.normal_()
    torch.testing.assert_close(emb(4, "blur", batch_size=2), emb(4, "blur", torch.zeros(2)))
    assert not torch.allclose(emb(4, "blur", 0.7), emb(4, "blur"))


def test_mismatched_lengths_are_rejected() -> None:
    emb = ConditionEmbedding(dim=4)
    with pytest.raises(ValueError, match="2 scales for a batch of 3"):
        emb([2, 4], ["blur"] * 3)
