"""benchmarks/compare_quality.py: two bench_quality.py JSON files compared row by row."""

from __future__ import annotations

import json

import pytest

from tests.helpers import load_benchmark


@pytest.fixture(scope="module")
def compare():
    return load_benchmark("compare_quality")


def row(scale: int, kind: str, strength: str, bicubic: float, model: float) -> dict:
    return {"scale": scale, "degradation": kind, "strength": strength, "bicubic_psnr": bicubic,
            "model_psnr": model, "gain_db": model - bicubic}


def measurement(rows: list[dict]) -> dict:
    return {"settings": {}, "sets": {"clips": {"clips": ["a"], "rows": rows}}}


OLD = measurement([
    row(4, "bicubic", "", 30.0, 33.0),
    row(4, "compression", "crf 33", 26.0, 26.4),
    row(4, "compression", "crf 28", 27.6, 28.3),
    row(4, "compression", "crf 33", 26.0, 26.4),  # the fixed-CRF copy of the drawn row
])
NEW = measurement([
    row(4, "bicubic", "", 30.0, 33.1),               # +0.1
    row(4, "compression", "crf 33", 26.0, 26.35),    # -0.05
    row(4, "compression", "crf 28", 27.5, 28.3),     # another input: gain +0.8 against +0.7
    row(4, "compression", "crf 33", 26.0, 26.35),
])


def test_rows_are_matched_counted_once_and_flagged_when_the_input_differs(compare):
    compared = compare.compare_sets(OLD, NEW)
    assert [c["key"] for c in compared] == [
        (4, "bicubic", ""), (4, "compression", "crf 33"), (4, "compression", "crf 28")]
    assert [round(c["new"] - c["old"], 6) for c in compared] == [0.1, -0.05, 0.1]
    assert [c["same_input"] for c in compared] == [True, True, False]
    text = compare.summary(compared)
    assert text.startswith("new better on 2 of 3 rows, mean +0.050 dB")
    assert "worst clips x4 compression (crf 33) -0.050" in text


def test_the_command_prints_the_table_and_refuses_files_without_common_rows(
        compare, tmp_path, capsys):
    old, new, other = tmp_path / "old.json", tmp_path / "new.json", tmp_path / "other.json"
    old.write_text(json.dumps(OLD))
    new.write_text(json.dumps(NEW))
    other.write_text(json.dumps(measurement([row(2, "blur", "blur_sigma 1.6", 29.7, 37.3)])))
    assert compare.main([str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "| clips | x4 | compression (crf 28) | +0.700 | +0.800 | +0.1000 | no |" in out
    assert compare.main([str(old), str(other)]) == 1
    assert "share no rows" in capsys.readouterr().err
