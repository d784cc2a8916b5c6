"""Two held-out measurements side by side, row by row: is the new checkpoint better?

Reads two ``--output-json`` files of ``benchmarks/bench_quality.py`` (the shipped checkpoint
and a candidate) and prints, per set, each row's gain over bicubic for both and the
difference, then how many rows the new file wins, the mean difference and the worst and best
rows. A row the benchmark scores twice (the CRF drawn from seed 0 equal to a fixed
``--crfs`` one) counts once. ``same input`` says whether both runs saw the same degraded
frames (equal bicubic PSNR): where they did not (another encoder build, a changed
degradation), the difference mixes the model with the input.

Run: ``python benchmarks/compare_quality.py old.json new.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def row_key(row: dict) -> tuple:
    return row["scale"], row["degradation"], row["strength"]


def condition(key: tuple) -> str:
    """``compression (crf 28)`` for the row key (4, "compression", "crf 28")."""
    _, kind, strength = key
    return kind + (f" ({strength})" if strength else "")


def compare_sets(old: dict, new: dict) -> list[dict]:
    """One dict per row of every set in both files (first occurrence of a repeated row):
    set, row key, old and new gain and whether the bicubic baseline is the same."""
    compared = []
    for name, new_set in new["sets"].items():
        if name not in old["sets"]:
            continue
        old_rows = {}
        for row in old["sets"][name]["rows"]:
            old_rows.setdefault(row_key(row), row)
        seen = set()
        for row in new_set["rows"]:
            key = row_key(row)
            if key in seen or key not in old_rows:
                continue
            seen.add(key)
            before = old_rows[key]
            compared.append({
                "set": name, "key": key, "old": before["gain_db"], "new": row["gain_db"],
                "same_input": abs(before["bicubic_psnr"] - row["bicubic_psnr"]) < 1e-6,
            })
    return compared


def summary(compared: list[dict]) -> str:
    diffs = [c["new"] - c["old"] for c in compared]
    worst = min(compared, key=lambda c: c["new"] - c["old"])
    best = max(compared, key=lambda c: c["new"] - c["old"])

    def name(c: dict) -> str:
        return f"{c['set']} x{c['key'][0]} {condition(c['key'])}"

    return (f"new better on {sum(d > 0 for d in diffs)} of {len(diffs)} rows, mean "
            f"{statistics.mean(diffs):+.3f} dB; worst {name(worst)} "
            f"{worst['new'] - worst['old']:+.3f}, best {name(best)} "
            f"{best['new'] - best['old']:+.3f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", type=Path, help="bench_quality.py --output-json of the reference")
    p.add_argument("new", type=Path, help="the same for the candidate")
    args = p.parse_args(argv)
    old, new = (json.loads(path.read_text()) for path in (args.old, args.new))
    compared = compare_sets(old, new)
    if not compared:
        print(f"{args.old} and {args.new} share no rows: were they made with the same --sets, "
              "--scales and --degradations?", file=sys.stderr)
        return 1
    print("| set | scale | degradation | old gain (dB) | new gain (dB) | difference | same input |")
    print("|---|---|---|---|---|---|---|")
    for c in compared:
        print(f"| {c['set']} | x{c['key'][0]} | {condition(c['key'])} | {c['old']:+.3f} | "
              f"{c['new']:+.3f} | {c['new'] - c['old']:+.4f} | "
              f"{'yes' if c['same_input'] else 'no'} |")
    print("\n" + summary(compared))
    return 0


if __name__ == "__main__":
    sys.exit(main())
