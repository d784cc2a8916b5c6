"""Presenting results: the rich table, the JSON and the CSV files.

JSON shape::

    {"average": {"psnr": 27.1, "ssim": 0.82, "lpips": 0.21 | null},
     "clips": {"calendar": {"psnr": ..., "ssim": ..., "lpips": ... | null, "frames": 41}, ...},
     "settings": {"method": ..., "scale": ..., "y_channel": ..., ...}}

LPIPS is ``null`` (an empty CSV cell, "n/a" in the table) when it was not computed, never 0
or NaN. Files are written under a temporary name and renamed, so a failed run leaves none.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from vsr.evaluation.runner import ClipScores, average_over_clips


def results_dict(results: Sequence[ClipScores], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document: average over clips, per-clip means, and the settings used."""
    return {
        "average": average_over_clips(results),
        "clips": {r.name: r.means() for r in results},
        "settings": dict(settings),
    }


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Write the results document as indented JSON."""
    _atomic_write(path, json.dumps(doc, indent=2) + "\n")


def write_csv(path: Path, doc: Mapping[str, Any]) -> None:
    """One row per clip plus a final ``average`` row; empty LPIPS cells when unavailable."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["clip", "frames", "psnr", "ssim", "lpips"])

    def cell(v: float | None) -> str:
        return "" if v is None else repr(float(v))

    total = 0
    for name, m in doc["clips"].items():
        writer.writerow([name, m["frames"], cell(m["psnr"]), cell(m["ssim"]), cell(m["lpips"])])
        total += m["frames"]
    avg = doc["average"]
    writer.writerow(["average", total, cell(avg["psnr"]), cell(avg["ssim"]), cell(avg["lpips"])])
    _atomic_write(path, buf.getvalue())


def results_table(doc: Mapping[str, Any], title: str) -> Table:
    """Per-clip rows and the average, PSNR in dB to 2 decimals, SSIM and LPIPS to 4."""
    table = Table(title=title)
    table.add_column("clip")
    table.add_column("frames", justify="right")
    table.add_column("PSNR (dB)", justify="right")
    table.add_column("SSIM", justify="right")
    table.add_column("LPIPS", justify="right")

    def fmt(v: float | None, digits: int) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    for name, m in doc["clips"].items():
        table.add_row(
            name, str(m["frames"]), fmt(m["psnr"], 2), fmt(m["ssim"], 4), fmt(m["lpips"], 4)
        )
    avg = doc["average"]
    table.add_section()
    table.add_row(
        "average",
        str(len(doc["clips"])) + " clips",
        fmt(avg["psnr"], 2),
        fmt(avg["ssim"], 4),
        fmt(avg["lpips"], 4),
        style="bold",
    )
    return table
