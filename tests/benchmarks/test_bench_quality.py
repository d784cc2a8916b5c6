"""benchmarks/bench_quality.py: two runs on one work dir take turns instead of deleting the
frames the other is reading."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.helpers import REPO, load_benchmark

pytest.importorskip("fcntl", reason="the work-dir lock uses flock (not on Windows)")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_quality")


def test_a_second_run_waits_for_the_first_to_finish(bench, tmp_path):
    # The first run is another process, as when a user starts two benchmarks.
    first = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from pathlib import Path
            from tests.helpers import load_benchmark
            with load_benchmark("bench_quality").work_dir_lock(Path({str(tmp_path)!r})):
                print("holding", flush=True)
                time.sleep(2)
        """)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert first.stdout.readline().strip() == "holding"
        waits: list[str] = []
        with bench.work_dir_lock(tmp_path, on_wait=waits.append):
            # Got here only once the first run let go: it has finished.
            assert first.wait(timeout=1) == 0
        assert len(waits) == 1 and "--work-dir" in waits[0] and str(tmp_path) in waits[0]
    finally:
        first.kill()
        first.wait()


def test_an_unused_work_dir_is_taken_at_once_and_again_after_release(bench, tmp_path):
    waits: list[str] = []
    for _ in range(2):
        with bench.work_dir_lock(tmp_path / "new", on_wait=waits.append):
            pass
    assert waits == []
