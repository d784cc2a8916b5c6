"""scripts/train_gpu.sh end to end on the CPU (its smoke test): a pack in, vsr_m.pt out.

The script's GPU-only steps (the wheels, the CUDA build) are skipped here because this
Python has the packages and no GPU; they run on a GPU machine with scripts/pack_gpu.sh's pack.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch
from training_helpers import PYTHON, python_env

from tests.helpers import REPO, make_frames_tree
from vsr.inference import load_model
from vsr.training.callbacks.ema import STATE_KEY as EMA_KEY

SCRIPT = str(REPO / "scripts" / "train_gpu.sh")
# The experiment (gpu_m) scaled down to seconds on one CPU thread.
TINY = ["trainer=cpu", "trainer.precision=32-true", "model.preset=tiny", "trainer.max_steps=2",
        "data.train.batch_size=2", "data.train.patch_size=24", "data.train.num_workers=0",
        "data.val.num_workers=0", "data.val.crop_size=null", "data.pin_memory=false"]


def run_script(pack: Path, out: Path, overrides: list[str],
               **env_extra: str) -> subprocess.CompletedProcess:
    env = python_env() | {"PACK": str(pack), "OUT": str(out), "PYTHON": PYTHON,
                          "RUN_DIR": str(out.parent / "run"), **env_extra}
    return subprocess.run(["bash", SCRIPT, *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_trains_the_experiment_from_a_pack_and_exports_it(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    make_frames_tree(pack / "frames", ("a", "b"))
    make_frames_tree(pack / "val", ("held_out",))
    out = tmp_path / "out"
    # In parts of 1 MiB, as for a machine that returns files of limited size.
    proc = run_script(pack, out, TINY, SPLIT_MB="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "`Trainer.fit` stopped: `max_steps=2` reached" in (out / "train.log").read_text()
    parts = sorted(out.glob("vsr_m.pt.part*"))
    assert len(parts) == 4 and not (out / "vsr_m.pt").exists()  # the tiny model: 3.96 MiB
    (tmp_path / "vsr_m.pt").write_bytes(b"".join(p.read_bytes() for p in parts))
    model = load_model(tmp_path / "vsr_m.pt")
    # gpu_m's model (every scale, the conditional trunk), at the smoke test's width.
    assert model.scales == (2, 3, 4) and model.config["trunk_conv"] == "cond_dynamic"
    # The exported weights are the trained run's: its last checkpoint's EMA weights.
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu",
                      weights_only=False)
    ema = ckpt["callbacks"][EMA_KEY]
    name, value = next(iter(model.state_dict().items()))
    assert torch.equal(value, ema["shadow"][name])


def test_without_a_pack_it_says_what_to_run_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_script(tmp_path / "missing", out, TINY)
    assert proc.returncode == 1
    assert "run scripts/pack_gpu.sh first" in proc.stderr
    assert not out.exists()
