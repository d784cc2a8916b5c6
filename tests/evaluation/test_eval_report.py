"""Averaging rules and the JSON / CSV / table output of ``vsr-eval``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from vsr.evaluation.report import results_dict, results_table, write_csv, write_json
from vsr.evaluation.runner import ClipScores, average_over_clips


def _clips() -> list[ClipScores]:
    return [
        ClipScores("long", psnr=[30.0, 30.0, 30.0, 34.0], ssim=[0.8] * 4, lpips=[0.1] * 4),
        ClipScores("short", psnr=[20.0], ssim=[0.5], lpips=[0.3]),
    ]


def test_clip_mean_then_set_mean() -> None:
    long, short = _clips()
    assert long.means() == {"psnr": 31.0, "ssim": 0.8, "lpips": pytest.approx(0.1), "frames": 4}
    avg = average_over_clips([long, short])
    # (31 + 20) / 2, not the frame mean (30+30+30+34+20) / 5 = 28.8.
    assert avg["psnr"] == pytest.approx(25.5)
    assert avg["ssim"] == pytest.approx(0.65)
    assert avg["lpips"] == pytest.approx(0.2)


def test_lpips_unavailable_is_null_never_zero(tmp_path: Path) -> None:
    clips = [ClipScores("a", psnr=[30.0], ssim=[0.9]), ClipScores("b", psnr=[32.0], ssim=[0.7])]
    doc = results_dict(clips, {"method": "bicubic"})
    write_json(tmp_path / "r.json", doc)
    write_csv(tmp_path / "r.csv", doc)
    loaded = json.loads((tmp_path / "r.json").read_text())
    assert loaded["average"] == {"psnr": 31.0, "ssim": pytest.approx(0.8), "lpips": None}
    assert loaded["clips"]["a"]["lpips"] is None
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    assert rows[-1] == ["average", "2", "31.0", repr(0.8), ""]
    assert not list(tmp_path.glob(".*tmp*"))  # temporary files renamed away

    console = Console(record=True, width=120)
    console.print(results_table(doc, "t"))
    text = console.export_text()
    assert "n/a" in text and "31.00" in text and "0.8000" in text
    assert "NaN" not in text and "nan" not in text


def test_protocol_fixes_the_strength_it_is_given(folder_tree, tmp_path: Path) -> None:
    from vsr.data.degradations import degrade
    from vsr.evaluation.datasets import find_clips
    from vsr.evaluation.runner import Protocol, load_pair

    (clip, _) = find_clips(tmp_path / "gt", "folders")
    drawn = Protocol(2, "compression", y_channel=True, crop_border=0, seed=0)
    fixed = Protocol(2, "compression", y_channel=True, crop_border=0, seed=0,
                     degrade_options=(("crf", 23),))
    _, lr_fixed = load_pair(clip, fixed)
    # The fixed CRF is what degrade makes at that CRF, whatever the seed draws otherwise.
    expected, info = degrade(folder_tree["a"], 2, "compression", seed=0, crf=23)
    np.testing.assert_array_equal(lr_fixed, expected)
    assert info["raw_strength"] == 23
    assert degrade(folder_tree["a"], 2, "compression", seed=0)[1]["raw_strength"] != 23
    assert not np.array_equal(load_pair(clip, drawn)[1], lr_fixed)
