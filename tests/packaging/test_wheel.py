"""A wheel that works: built from the tree, installed into a fresh environment, and run from
another folder, its console scripts find the configs and the default weights it carries."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from vsr import demo

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, env: dict, timeout: int = 600) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_wheel_installs_and_runs_from_another_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VSR_CUDA")}
    # The CPU kernels are enough to prove the packaging (CI compiles CUDA separately).
    env.update(VSR_CUDA="0", MAX_JOBS="2")
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
          "-w", str(wheels), str(REPO)], tmp_path, env)
    (wheel,) = wheels.glob("vsr-*.whl")

    # A fresh environment that borrows this one's packages (torch and the rest) but not its
    # editable vsr: a plain path line in a .pth file adds the folder without running the
    # editable install's own .pth hooks.
    target = tmp_path / "env"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     tmp_path, env).strip())
    (site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
          str(wheel)], tmp_path, env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(python), "-c", "import vsr, vsr.resources as r; "
                  "print(vsr.__file__); print(r.CONFIG_DIR); print(r.CHECKPOINT_DIR)"], work, env)
    assert all(line.startswith(str(site)) for line in where.split()), where

    bin_dir = target / "bin"
    assert "usage: vsr-eval" in _run([str(bin_dir / "vsr-eval"), "--help"], work, env)
    job = _run([str(bin_dir / "vsr-train"), "--cfg", "job", "experiment=tiny_multi"], work, env)
    assert "preset: tiny" in job and "trunk_conv: cond_dynamic" in job

    clip = work / "clip.mp4"
    demo.encode_video(demo.make_clip(demo.sample_image("astronaut"), 3, (48, 32)), clip)
    _run([str(bin_dir / "vsr-upscale"), str(clip), "out.mkv", "--scale", "2", "--quiet"],
         work, env)
    assert (work / "out.mkv").stat().st_size > 0
