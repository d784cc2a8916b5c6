"""The real entry points in subprocesses: a video-folder run, a multirun sweep, DDP on 2 CPU
processes, and the export command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from training_helpers import PYTHON, python_env

from tests.helpers import REPO
from vsr.inference import load_model

TRAIN = str(REPO / "scripts" / "train.py")
EXPORT = str(REPO / "scripts" / "export.py")
HERE = Path(__file__).resolve().parent


def run(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess:
    """Run a script; on timeout kill its whole process group (DDP ranks included)."""
    proc = subprocess.Popen(
        [PYTHON, *args],
        cwd=REPO,
        env=python_env(HERE),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{args[0]} timed out after {timeout} s\n{out[-2000:]}\n{err[-3000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-3000:]}\n{err[-5000:]}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def only_run_dir(log_dir: Path, task: str) -> Path:
    (run_dir,) = (log_dir / task / "runs").iterdir()
    return run_dir


def test_five_steps_on_a_folder_of_videos_then_export(two_videos: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    proc = run(
        [
            TRAIN,
            "experiment=tiny_multi",
            "data=videos",
            f"data.root={two_videos}",
            "trainer.max_steps=5",
            f"paths.log_dir={logs}",
        ]
    )
    assert "it/s" in proc.stdout + proc.stderr  # the progress bar reports the speed
    run_dir = only_run_dir(logs, "tiny_multi")
    metrics = (run_dir / "csv" / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    assert "val/psnr" in header and "val/psnr_x4_compression" in header
    assert list((run_dir / "csv" / "val_images").glob("step0000005_*.png"))
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == 5
    # vsr-export turns it into the inference format.
    out = tmp_path / "tiny.pt"
    proc = run([EXPORT, str(ckpt), str(out)], timeout=120)
    assert "wrote" in proc.stdout
    model = load_model(out)
    assert model.scales == (2, 3, 4) and model.config["trunk_conv"] == "cond_dynamic"


def test_multirun_sweep_over_trunk_convolutions(frames_root: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    run(
        [
            TRAIN,
            "-m",
            "experiment=tiny_multi",
            "data=frames",
            f"data.root={frames_root}",
            "data.train.num_workers=0",
            "data.train.patch_size=24",
            "data.val.crop_size=24",
            "model.trunk_conv=static,cond_dynamic",
            "trainer.max_steps=1",
            "trainer.limit_val_batches=2",
            f"paths.log_dir={logs}",
        ]
    )
    (sweep,) = (logs / "tiny_multi" / "multiruns").iterdir()
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in runs] == ["0", "1"]
    trunks = []
    for r in runs:
        ckpt = torch.load(r / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        assert ckpt["global_step"] == 1
        trunks.append(ckpt["vsr"]["model_config"]["trunk_conv"])
        assert "val/psnr" in (r / "csv" / "metrics.csv").read_text().splitlines()[0]
    assert trunks == ["static", "cond_dynamic"]


def test_ddp_on_two_cpu_processes(frames_root: Path, tmp_path: Path) -> None:
    # Six training clips (a-f; g validates): each rank gets its own three windows per epoch.
    for clip in ("d", "e", "f", "g"):
        (frames_root / clip).symlink_to(frames_root / "a")
    probe = tmp_path / "probe"
    logs = tmp_path / "logs"
    run(
        [
            TRAIN,
            "experiment=tiny_multi",
            "data=frames",
            f"data.root={frames_root}",
            "data.train.num_workers=0",
            "data.train.batch_size=1",
            "data.train.patch_size=24",
            "data.val.crop_size=24",
            "trainer=ddp_cpu",
            "trainer.max_steps=3",
            "trainer.limit_val_batches=2",
            "+callbacks.probe._target_=ddp_probe.RankProbe",
            f"+callbacks.probe.out_dir={probe}",
            f"paths.log_dir={logs}",
        ],
        timeout=300,
    )
    r0, r1 = (json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["global_step"] == r1["global_step"] == 3
    # Different shards: in the first epoch the ranks' samples are disjoint.
    first0 = {k for batch in r0["keys"][:3] for k in batch}
    first1 = {k for batch in r1["keys"][:3] for k in batch}
    assert first0 and first1 and not first0 & first1
    # Gradients were averaged: bit-identical weights, and training changed them.
    assert r0["sha256"] == r1["sha256"] and r0["checksum"] == r1["checksum"]
    assert r0["sha256"] != r0["initial_sha256"]


@pytest.mark.parametrize("args", [["--help"]])
def test_train_help_lists_the_config_groups(args: list[str]) -> None:
    out = run([TRAIN, *args], timeout=60).stdout
    for group in ("experiment:", "trainer:", "hparams_search:", "degradation:"):
        assert group in out
