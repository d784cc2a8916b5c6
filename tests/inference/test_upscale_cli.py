"""vsr-upscale end to end with a tiny random model, and every user error as one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from inference_testdata import tiny_model, video

from vsr.inference import save_model_file
from vsr.inference.cli import main
from vsr.video.panels import CAPTION_HEIGHT, GAP

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_model_file(tiny_model(), tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def _run(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, err


@pytest.mark.slow
def test_tiny_clip_end_to_end_with_compare(tmp_path, capsys, checkpoint):
    src = video("mmagic_test_inference.mp4")
    out, cmp = tmp_path / "up.mkv", tmp_path / "cmp.png"
    rc, err = _run(capsys, src, out, "--checkpoint", checkpoint, "--compare", cmp, "--quiet",
                   "--batch", "2")
    assert rc == 0, err
    with av.open(str(out)) as c, av.open(str(src)) as ref:
        s = c.streams.video[0]
        assert (s.width, s.height) == (256, 256)
        got = [float(f.pts * f.time_base) for f in c.decode(video=0)]
        want = [float(f.pts * f.time_base) for f in ref.decode(video=0)]
        assert got == pytest.approx(want, abs=1e-3) and len(got) == 5
    side = cv2.imread(str(cmp))
    assert side.shape == (CAPTION_HEIGHT + 256, 2 * 256 + GAP, 3)  # captions above the panels
    # The model adds a residual to the bicubic base: the halves are close but not equal.
    body = side[CAPTION_HEIGHT:]
    left, right = body[:, :256].astype(int), body[:, 256 + GAP :].astype(int)
    assert 0 < np.abs(left - right).mean() < 20


@pytest.mark.slow
def test_script_entry_point_runs(tmp_path, checkpoint):
    src = video("mmagic_test_inference.mp4")
    out = tmp_path / "frames"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "upscale.py"), str(src), str(out),
         "--checkpoint", str(checkpoint), "--scale", "2", "--end", "0.08", "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["00000000.png", "00000001.png"]
    assert cv2.imread(str(out / "00000000.png")).shape == (128, 128, 3)


def _assert_one_line_error(rc, err, pattern):
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vsr-upscale: error: "), err
    assert "Traceback" not in err
    assert pattern in lines[0], lines[0]


def test_error_missing_input(tmp_path, capsys, checkpoint):
    rc, err = _run(capsys, tmp_path / "nope.mp4", tmp_path / "o.mp4", "--checkpoint", checkpoint)
    _assert_one_line_error(rc, err, "input not found")


def test_error_not_a_video(tmp_path, capsys, checkpoint):
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"\x1a\x45junk" * 200)
    rc, err = _run(capsys, bad, tmp_path / "o.mp4", "--checkpoint", checkpoint)
    _assert_one_line_error(rc, err, "not a video file")
    assert not (tmp_path / "o.mp4").exists()


def test_error_zero_frames(tmp_path, capsys, checkpoint):
    src = video("mmagic_test_inference.mp4")
    rc, err = _run(capsys, src, tmp_path / "o.mp4", "--checkpoint", checkpoint,
                   "--start", "10", "--end", "11")
    _assert_one_line_error(rc, err, "no frames")
    assert not (tmp_path / "o.mp4").exists()


def test_error_unsupported_codec(tmp_path, capsys, checkpoint):
    src = video("mmagic_test_inference.mp4")
    rc, err = _run(capsys, src, tmp_path / "o.mp4", "--checkpoint", checkpoint, "--codec", "xyz")
    _assert_one_line_error(rc, err, "unsupported codec 'xyz'")


def test_error_existing_output(tmp_path, capsys, checkpoint):
    src = video("mmagic_test_inference.mp4")
    out = tmp_path / "o.mp4"
    out.write_bytes(b"old")
    rc, err = _run(capsys, src, out, "--checkpoint", checkpoint)
    _assert_one_line_error(rc, err, "already exists; pass --overwrite")
    assert out.read_bytes() == b"old"


def test_error_unwritable_destination(tmp_path, capsys, checkpoint):
    src = video("mmagic_test_inference.mp4")
    rc, err = _run(capsys, src, tmp_path / "no" / "dir" / "o.mp4", "--checkpoint", checkpoint)
    _assert_one_line_error(rc, err, "does not exist")


def test_error_checkpoint_problems(tmp_path, capsys):
    src = video("mmagic_test_inference.mp4")
    rc, err = _run(capsys, src, tmp_path / "o.mp4", "--checkpoint", tmp_path / "missing.pt")
    _assert_one_line_error(rc, err, "checkpoint not found")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    rc, err = _run(capsys, src, tmp_path / "o.mp4", "--checkpoint", junk)
    _assert_one_line_error(rc, err, "is not a vsr checkpoint")
    assert list(tmp_path.iterdir()) == [junk]


def test_interrupt_leaves_no_output(tmp_path, capsys, checkpoint, monkeypatch):
    import vsr.inference.upscale as up

    calls = 0
    original = up.ModelProcessor.__call__

    def interrupted(self, windows):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return original(self, windows)

    monkeypatch.setattr(up.ModelProcessor, "__call__", interrupted)
    src = video("mmagic_test_inference.mp4")
    rc = main([str(src), str(tmp_path / "o.mp4"), "--checkpoint", str(checkpoint), "--quiet"])
    assert rc == 130 and "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sigterm_mid_run_leaves_no_output(tmp_path, checkpoint):
    import signal
    import time

    src = video("ffpy_in.mp4")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "upscale.py"), str(src), str(out_dir / "o.mp4"),
         "--checkpoint", str(checkpoint), "--quiet"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out_dir.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)  # wait until the temporary output exists: mid-run
        assert list(out_dir.iterdir()), "the run never started writing"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err
    assert list(out_dir.iterdir()) == []
