"""benchmarks/bench_upscale.py --checkpoints: per-frame time of exported files side by side."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import load_benchmark, shared_path
from vsr.inference.checkpoint import save_model_file
from vsr.models import build_edvr


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_upscale")


def test_checkpoints_are_timed_on_the_same_real_frames(bench, tmp_path, capsys):
    shared_path("videos", bench.CHECKPOINTS_INPUT.name)  # skips without ../shared/data
    torch.manual_seed(0)
    files = [save_model_file(build_edvr("tiny", num_reconstruct_block=n), tmp_path / f"{n}.pt")
             for n in (2, 4)]
    seconds = bench.compare_checkpoints(files, frames=1, rounds=1, output_size=(64, 36))
    assert list(seconds) == files and all(s > 0 for s in seconds.values())
    out = capsys.readouterr().out
    assert "1 frames 16x9 -> 64x36 (x4)" in out
    assert f"x1.000  {files[0]}" in out and str(files[1]) in out
