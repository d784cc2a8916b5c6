"""vsr-upscale as users run long jobs: killed and rerun, shared by torchrun ranks, folders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from inference_testdata import tiny_model, video

from vsr.inference import save_model_file
from vsr.video.job import JOB_SUFFIX

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "upscale.py"
#: 8 frames of a real 320x240 clip with AAC audio, x2, lossless, in 3 segments.
JOB = ["--scale", "2", "--end", "0.25", "--codec", "ffv1", "--segment-frames", "3",
       "--precision", "fp32", "--quiet"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_model_file(tiny_model(residual_gain=30), tmp_path_factory.mktemp("ckpt") / "t.pt")


def _upscale(*argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, argv)], capture_output=True,
                          text=True, timeout=600, **kw)


def _contents(path: Path):
    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="rgb24").tobytes()) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]
    return frames, audio


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, checkpoint):
    out = tmp_path_factory.mktemp("whole") / "out.mkv"
    run = _upscale(video("ffpy_in.mp4"), out, "--checkpoint", checkpoint, *JOB)
    assert run.returncode == 0, run.stderr
    frames, audio = _contents(out)
    assert len(frames) == 8 and audio
    return frames, audio


@pytest.mark.slow
def test_sigkill_rerun_resumes_and_equals_an_uninterrupted_run(tmp_path, checkpoint,
                                                               uninterrupted):
    src, out = video("ffpy_in.mp4"), tmp_path / "out.mkv"
    job = tmp_path / f"out.mkv{JOB_SUFFIX}"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(src), str(out), "--checkpoint",
                             str(checkpoint), *JOB], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (job / "segments" / "000000.mkv").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (job / "segments" / "000000.mkv").exists(), "the first segment never finished"
        os.kill(proc.pid, signal.SIGKILL)  # as the OOM killer or a power cut would
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert not out.exists()

    # Another setting: refused in one line that says what differs, nothing is lost.
    other = _upscale(src, out, "--checkpoint", checkpoint, *JOB, "--crf", "30")
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert "crf was 18, now 30" in other.stderr and "--restart" in other.stderr
    assert (job / "segments" / "000000.mkv").exists()

    rerun = _upscale(src, out, "--checkpoint", checkpoint, *JOB[:-1])  # with the summary
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed from an earlier run" in rerun.stderr
    assert _contents(out) == uninterrupted  # identical frames, timestamps and audio
    assert not job.exists()


@pytest.mark.slow
def test_restart_discards_the_old_job(tmp_path, checkpoint, uninterrupted):
    src, out = video("ffpy_in.mp4"), tmp_path / "out.mkv"
    job = tmp_path / f"out.mkv{JOB_SUFFIX}"
    (job / "segments").mkdir(parents=True)
    (job / "manifest.json").write_text('{"version": 1, "input": {}, "options": {}}')
    refused = _upscale(src, out, "--checkpoint", checkpoint, *JOB)
    assert refused.returncode == 1 and "--restart" in refused.stderr
    restarted = _upscale(src, out, "--checkpoint", checkpoint, *JOB, "--restart")
    assert restarted.returncode == 0, restarted.stderr
    assert _contents(out) == uninterrupted and not job.exists()


@pytest.mark.slow
def test_torchrun_two_processes_equal_one(tmp_path, checkpoint):
    # torchrun gives each process one thread; the same one thread alone is the reference
    # (oneDNN's sums may round differently with another thread count).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    src, one, two = video("ffpy_in.mp4"), tmp_path / "one.mkv", tmp_path / "two.mkv"
    alone = _upscale(src, one, "--checkpoint", checkpoint, *JOB, env=env)
    assert alone.returncode == 0, alone.stderr
    torchrun = Path(sys.executable).with_name("torchrun")
    shared = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", "--no-python", sys.executable, str(SCRIPT),
         str(src), str(two), "--checkpoint", str(checkpoint), *JOB],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert shared.returncode == 0, shared.stderr[-3000:]
    assert _contents(two) == _contents(one)
    assert not (tmp_path / f"two.mkv{JOB_SUFFIX}").exists()


@pytest.mark.slow
def test_folder_of_videos_completes_on_rerun(tmp_path, checkpoint):
    src = video("mmagic_test_inference.mp4")
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    shutil.copy(src, inputs / "clip2.mp4")
    first = _upscale(inputs, outputs, "--checkpoint", checkpoint, "--scale", "2")
    assert first.returncode == 0, first.stderr
    done_before = (outputs / "clip2.mp4").stat().st_mtime_ns
    for name in ("clip10.mp4", "clip1.mp4"):
        shutil.copy(src, inputs / name)
    rerun = _upscale(inputs, outputs, "--checkpoint", checkpoint, "--scale", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert "wrote 2 videos" in rerun.stderr and "1 were already done" in rerun.stderr
    assert sorted(p.name for p in outputs.iterdir()) == ["clip1.mp4", "clip10.mp4", "clip2.mp4"]
    assert (outputs / "clip2.mp4").stat().st_mtime_ns == done_before  # not redone
    for name in ("clip1.mp4", "clip10.mp4", "clip2.mp4"):
        with av.open(str(outputs / name)) as c:
            stream = c.streams.video[0]
            assert (stream.width, stream.height, stream.frames) == (128, 128, 5)
