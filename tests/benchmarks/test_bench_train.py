"""benchmarks/bench_train.py: the Lightning step against its plain-loop peer, and the two
weight layouts, on a tiny synthetic batch."""

from __future__ import annotations

import re

import pytest
import torch

from tests.helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_train")


def test_layouts_are_timed_and_compared(bench, capsys):
    threads = torch.get_num_threads()
    try:
        bench.main(["--layouts", "--rounds", "1", "--steps", "1", "--warmup", "1", "--batch",
                    "1", "--crop", "32", "--blocks", "2", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "EDVR-tiny, 2 trunk blocks" in out
    rates = {
        name: float(value)
        for name, value in re.findall(r"Lightning (channels-last|NCHW)\s+([\d.]+) it/s", out)
    }
    assert set(rates) == {"channels-last", "NCHW"} and min(rates.values()) > 0
    ratio = float(re.search(r"channels-last : NCHW steps/s\s+([\d.]+)", out).group(1))
    assert ratio == pytest.approx(rates["channels-last"] / rates["NCHW"], rel=0.05)
