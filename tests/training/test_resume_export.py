"""Resume is exact (weights, EMA, optimiser, schedule) and export round-trips the EMA weights.

Three short runs of the real config (tiny model, frame folders): A trains 4 steps; B trains 2,
then resumes from B's ``last.ckpt`` to step 4. The training clips give one batch per epoch,
so B stops at an epoch end, where a resumed run draws the same crops as an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Timer

from tests.helpers import SHRINK, compose_train, make_frames_tree
from vsr.inference import CheckpointError, load_model, read_checkpoint
from vsr.models import build_edvr
from vsr.training import train
from vsr.training.errors import TrainingError
from vsr.training.export import export_checkpoint, main
from vsr.training.run import build, check_time_left


def _overrides(root: Path, steps: int) -> list[str]:
    return [
        "experiment=tiny_multi",
        "data=frames",
        f"data.root={root}",
        *SHRINK,
        f"trainer.max_steps={steps}",
        "trainer.limit_val_batches=2",
        "callbacks.ema.decay=0.5",  # a short average that still differs from the weights
        "module.scheduler.lr_lambda.periods=[4]",  # tiny_multi ties it to max_steps otherwise
    ]


def _run(root: Path, out: Path, steps: int, ckpt: Path | None = None) -> Path:
    overrides = _overrides(root, steps)
    if ckpt is not None:
        overrides.append(f"ckpt_path={ckpt}")
    train(compose_train(overrides, out))
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("resume")
    root = make_frames_tree(base / "frames", ("a", "b", "c"))
    full = _run(root, base / "A", 4)
    half = _run(root, base / "B", 2)
    resumed = _run(root, base / "B2", 4, ckpt=half)
    return {"root": root, "full": full, "half": half, "resumed": resumed}


def test_resume_without_time_left_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    # A run stopped by its time cap after an hour: Lightning's timer resumes from that hour.
    stopped = _load(runs["half"])
    stopped.setdefault("callbacks", {})["Timer"] = {"time_elapsed": {"train": 3600.0}}
    ckpt = tmp_path / "stopped.ckpt"
    torch.save(stopped, ckpt)
    base = [*_overrides(runs["root"], 4), f"ckpt_path={ckpt}"]
    same_cap = compose_train([*base, '+trainer.max_time="00:00:30:00"'], tmp_path / "same")
    with pytest.raises(
        TrainingError,
        match=r"trained for 1:00:00, all of trainer.max_time "
        r"\(0:30:00\).*'trainer.max_time=\"00:02:00:00\"' for one hour more",
    ):
        train(same_cap)
    assert not (tmp_path / "same" / "checkpoints").exists()  # refused before anything ran
    # With time left, the check passes and leaves the timer at the checkpoint's hour.
    more_time = compose_train([*base, '+trainer.max_time="00:02:00:00"'], tmp_path / "ok")
    _, _, trainer = build(more_time)
    check_time_left(trainer, ckpt)
    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
    assert timer.time_remaining() == pytest.approx(3600)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_tensors_close(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=f"{what}: {k}")


def test_resume_continues_exactly(runs: dict[str, Path]) -> None:
    full, half, resumed = _load(runs["full"]), _load(runs["half"]), _load(runs["resumed"])
    assert half["global_step"] == 2 and full["global_step"] == resumed["global_step"] == 4
    _assert_tensors_close(full["state_dict"], resumed["state_dict"], "weights")
    _assert_tensors_close(
        full["callbacks"]["EMA"]["shadow"], resumed["callbacks"]["EMA"]["shadow"], "EMA"
    )
    opt_a, opt_b = full["optimizer_states"][0], resumed["optimizer_states"][0]
    for i, state in opt_a["state"].items():
        _assert_tensors_close(state, opt_b["state"][i], f"Adam state {i}")
    assert full["lr_schedulers"][0]["last_epoch"] == resumed["lr_schedulers"][0]["last_epoch"] == 4
    assert full["lr_schedulers"][0]["_last_lr"] == resumed["lr_schedulers"][0]["_last_lr"]
    # Training moved the weights (a resume that silently restarted would not match anyway).
    assert any(
        not torch.equal(half["state_dict"][k], full["state_dict"][k]) for k in half["state_dict"]
    )


def test_export_then_load_gives_identical_outputs(runs: dict[str, Path], tmp_path: Path) -> None:
    ckpt = _load(runs["full"])
    out = tmp_path / "tiny.pt"
    assert main([str(runs["full"]), str(out)]) == 0
    loaded = load_model(out)
    shadow = ckpt["callbacks"]["EMA"]["shadow"]
    reference = build_edvr(**ckpt["vsr"]["model_config"]).eval()
    reference.load_state_dict(shadow)
    frames = torch.rand(1, 5, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for scale in (2, 3, 4):
            for kind in ("bicubic", "compression"):
                assert torch.equal(loaded(frames, scale, kind), reference(frames, scale, kind))
    meta = read_checkpoint(out)["meta"]
    assert meta["weights"] == "ema" and meta["global_step"] == 4
    # The EMA is what was exported, not the raw weights (they differ after 4 steps).
    raw = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    assert any(not torch.equal(raw[k], v) for k, v in loaded.state_dict().items())
    raw_model = export_checkpoint(runs["full"], tmp_path / "raw.pt", use_ema=False)
    for k, v in raw_model.state_dict().items():
        assert torch.equal(v, raw[k])


def test_export_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint")
    assert main([str(bogus), str(tmp_path / "out.pt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vsr-export: error:") and str(bogus) in err
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    assert main([str(foreign), str(tmp_path / "out.pt")]) == 1
    assert "not written by vsr training" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


def _exported_run(runs: dict[str, Path], tmp_path: Path) -> tuple[Path, list[str]]:
    """The full run's weights exported to a .pt, and the overrides of a run like it."""
    exported = tmp_path / "start.pt"
    assert main([str(runs["full"]), str(exported)]) == 0
    return exported, ["experiment=tiny_multi", "data=frames", f"data.root={tmp_path}", *SHRINK]


def test_init_weights_starts_a_new_run_from_exported_weights(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    exported, base = _exported_run(runs, tmp_path)
    module, _, trainer = build(compose_train([*base, f"init_weights={exported}"], tmp_path / "r"))
    wanted = read_checkpoint(exported)["state_dict"]
    got = module.model.state_dict()
    assert got.keys() == wanted.keys()
    for k, v in wanted.items():
        assert torch.equal(got[k], v), k
    # Only the weights: the new run starts at step 0 with its own fresh optimiser.
    assert trainer.global_step == 0
    assert module.model.training

    # A file of another architecture is refused, naming the setting that differs.
    wider = compose_train([*base, "+model.num_feat=16", f"init_weights={exported}"], tmp_path / "w")
    with pytest.raises(CheckpointError, match=r"num_feat: run 16 vs file 32"):
        build(wider)


def test_init_weights_deepens_the_trunk_with_identity_blocks(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    exported, base = _exported_run(runs, tmp_path)
    shallow = load_model(exported)
    depth = len(shallow.reconstruction)
    deeper = [*base, f"+model.num_reconstruct_block={depth + 2}", f"init_weights={exported}"]
    module, _, _ = build(compose_train(deeper, tmp_path / "d"))
    model = module.model.eval()
    assert len(model.reconstruction) == depth + 2
    frames = torch.rand(1, model.num_frames, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(frames, 4, "noise"), shallow(frames, 4, "noise"))

    # A shorter trunk than the file's is not a growth: refused, naming the setting.
    shorter = [*base, f"+model.num_reconstruct_block={depth - 1}", f"init_weights={exported}"]
    with pytest.raises(CheckpointError, match=rf"num_reconstruct_block: run {depth - 1} vs file"):
        build(compose_train(shorter, tmp_path / "s"))


def test_last_checkpoint_holds_the_final_step(tmp_path: Path) -> None:
    # Saving every 2 steps, a 3-step run would otherwise leave step 2 in last.ckpt.
    root = make_frames_tree(tmp_path / "frames", ("a", "b", "c"))
    overrides = [
        "experiment=tiny_multi",
        "data=frames",
        f"data.root={root}",
        *SHRINK,
        "trainer.max_steps=3",
        "trainer.limit_val_batches=0",
        "callbacks.model_checkpoint.monitor=null",
        "callbacks.model_checkpoint.save_top_k=0",
        "+callbacks.model_checkpoint.every_n_train_steps=2",
        "callbacks.model_checkpoint.every_n_epochs=0",
        "callbacks.model_checkpoint.save_on_train_epoch_end=false",
    ]
    train(compose_train(overrides, tmp_path / "run"))
    last = _load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 3
