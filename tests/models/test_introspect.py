"""Sampling positions and routing tables, checked against hand computations; the two scripts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vsr.models import build_edvr, capture_offsets, routing_table, sampling_points

REPO = Path(__file__).resolve().parents[2]
LR_CLIP = REPO / ".." / "shared" / "data" / "lr_clips" / "reds_000_x4"


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zero_offsets_give_the_regular_grid() -> None:
    offset, mask = torch.zeros(2 * 2 * 9, 6, 7), torch.full((2 * 9, 6, 7), 0.5)
    points, mask = sampling_points(offset, mask, 3, 4)
    grid = [(3 + dy, 4 + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    np.testing.assert_array_equal(points, np.array([grid, grid], dtype=float))
    np.testing.assert_array_equal(mask, np.full((2, 9), 0.5))


def test_offset_channel_layout() -> None:
    offset, mask = torch.zeros(2 * 2 * 9, 5, 5), torch.zeros(2 * 9, 5, 5)
    # group 1, tap 5 (row 1, col 2): dy at channel 2*(9+5), dx next to it; its mask.
    offset[2 * 14, 2, 2], offset[2 * 14 + 1, 2, 2], mask[14, 2, 2] = 1.5, -2.0, 0.75
    points, weights = sampling_points(offset, mask, 2, 2)
    np.testing.assert_allclose(points[1, 5], [2 + 0 + 1.5, 2 + 1 - 2.0])
    assert weights[1, 5] == 0.75 and weights.sum() == 0.75


def _bilinear(feat: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """Zero-padded bilinear sample of (C, H, W) at (y, x), written out by hand."""
    h, w = feat.shape[-2:]
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    out = torch.zeros(feat.shape[0], dtype=torch.float64)
    for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
        if 0 <= yy < h and 0 <= xx < w:
            out += (1 - abs(y - yy)) * (1 - abs(x - xx)) * feat[:, yy, xx].double()
    return out


def test_captured_points_are_where_the_dcn_samples() -> None:
    torch.manual_seed(0)
    model = build_edvr("tiny", num_frame=3, trunk_conv="static").eval()
    dcn = model.pcd_align.dcn_pack["l1"]
    with torch.no_grad():
        dcn.conv_offset.weight.normal_(0, 0.3)
    frames = torch.rand(1, 3, 3, 8, 8)
    offset, mask = capture_offsets(model, frames)
    assert offset.shape == (3, 2 * 4 * 9, 8, 8) and mask.shape == (3, 4 * 9, 8, 8)
    # Check the point semantics against the operator itself on one pixel.
    x = torch.randn(1, 32, 8, 8)
    feat = torch.randn(1, 32, 8, 8)
    with torch.no_grad():
        offset1, mask1 = dcn.offsets_and_mask(feat)
        out = dcn(x, feat)[0, :, 4, 5].double()
    points, mask = sampling_points(offset1[0], mask1[0], 4, 5)
    per_group = 32 // points.shape[0]
    ref = dcn.bias.double().clone()
    for g in range(points.shape[0]):
        chans = slice(g * per_group, (g + 1) * per_group)
        for k in range(9):
            sample = _bilinear(x[0, chans], *points[g, k])
            ref += mask[g, k] * dcn.weight[:, chans, k // 3, k % 3].double() @ sample
    torch.testing.assert_close(out, ref.detach(), rtol=1e-4, atol=1e-4)


def test_captured_offsets_are_the_bounded_ones_the_dcn_uses() -> None:
    torch.manual_seed(0)
    model = build_edvr("tiny", num_frame=3, trunk_conv="static", max_offset=0.5).eval()
    dcn = model.pcd_align.dcn_pack["l1"]
    with torch.no_grad():
        dcn.conv_offset.weight.normal_(0, 0.3)
    inputs = []
    handle = dcn.register_forward_pre_hook(lambda m, args: inputs.append(args[1]))
    offset, mask = capture_offsets(model, torch.rand(1, 3, 3, 8, 8))
    handle.remove()
    with torch.inference_mode():
        expected_offset, expected_mask = dcn.offsets_and_mask(inputs[0])
    assert torch.equal(offset, expected_offset) and torch.equal(mask, expected_mask)
    assert 0.1 < offset.abs().max() <= 0.5


def test_routing_table_matches_router_softmax() -> None:
    torch.manual_seed(0)
    model = build_edvr("tiny", num_frame=3, scales=(2, 4)).eval()
    rows, layers, weights = routing_table(model, torch.rand(1, 3, 3, 8, 8))
    assert rows[0] == (2, "bicubic") and rows[-1] == (4, "compression") and len(rows) == 8
    assert weights.shape == (8, 8, 4) and layers[0] == "reconstruction.0.conv1"
    torch.testing.assert_close(weights.sum(-1), torch.ones(8, 8))
    conv = model.reconstruction[0].conv1
    with torch.no_grad():
        cond = model.condition(4, "noise")
        expected = torch.softmax(conv.router(cond)[0] / conv.temperature, dim=0)
    torch.testing.assert_close(weights[rows.index((4, "noise")), 0], expected)
    assert not torch.allclose(weights[0], weights[1])
    with pytest.raises(ValueError, match="has no routing"):
        routing_table(
            build_edvr("tiny", num_frame=3, trunk_conv="static"), torch.rand(1, 3, 3, 8, 8)
        )


def test_plot_routing_writes_png(tmp_path: Path) -> None:
    out = tmp_path / "routing.png"
    with pytest.warns(UserWarning, match="untrained"):
        _load_script("plot_routing").main(["--out", str(out)])
    img = cv2.imread(str(out))
    assert img.shape == (44 + 12 * 18 + 4, 130 + 8 * (4 * 18 + 4), 3)
    assert img.std() > 10  # not blank


def test_plot_receptive_field_writes_png(tmp_path: Path) -> None:
    if not LR_CLIP.is_dir():
        pytest.skip(f"real frames not found at {LR_CLIP} (../shared/data beside the repo)")
    clip = tmp_path / "clip"
    clip.mkdir()
    for path in sorted(LR_CLIP.glob("*.png"))[:5]:  # a 40x48 crop of the real frames: fast
        cv2.imwrite(str(clip / path.name), cv2.imread(str(path))[60:100, 100:148])
    out = tmp_path / "rf.png"
    with pytest.warns(UserWarning, match="untrained"):
        _load_script("plot_receptive_field").main(
            [
                "--frames",
                str(clip),
                "--pixel",
                "20",
                "30",
                "--window",
                "16",
                "--zoom",
                "4",
                "--out",
                str(out),
            ]
        )
    img = cv2.imread(str(out))
    assert img.shape == (28 + 16 * 4, 5 * 16 * 4 + 4 * 4, 3)
    assert not (tmp_path / "rf.tmp.png").exists()
