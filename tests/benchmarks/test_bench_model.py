"""benchmarks/bench_model.py: its per-part multiply-adds add up to the whole network's."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import load_benchmark
from vsr.models import build_edvr


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_model")  # also proves the script imports (flop formula once)


def test_parts_add_up_to_one_window_plus_one_frame_of_features(bench, capsys):
    torch.manual_seed(0)
    model = build_edvr("tiny", scales=(4,)).eval()
    frames = torch.rand(1, model.num_frames, 3, 16, 24)
    parts = bench.macs_by_part(model, frames, 4)
    features = parts["per-frame features"]
    # The whole forward extracts the features of all 5 frames; vsr-upscale, of one new frame.
    whole = bench.count_macs(model, frames, 4)
    assert sum(parts.values()) == whole - (model.num_frames - 1) * features
    assert features > 0 and parts["PCDAlignment"] > parts["ResidualBlock"] > 0
    assert parts["other"] == 0  # every multiply-add belongs to a named part

    bench.main(["--breakdown", "--presets", "tiny", "--height", "16", "--width", "24"])
    out = capsys.readouterr().out
    assert f"{sum(parts.values()) / 1e9:.1f} GMACs per 96x64 output frame" in out
    assert "PCDAlignment" in out and "UpsampleHead" in out
