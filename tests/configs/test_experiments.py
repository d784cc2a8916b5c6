"""Every experiment composes, instantiates and trains one step (``fast_dev_run``) on tiny
fixtures in its dataset's layout; the other config groups compose and instantiate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tests.helpers import CONF_DIR, EXPERIMENTS, SHRINK, compose_train, shared_path
from vsr.training import VSRLitModule, build
from vsr.training.errors import TrainingError

#: (experiment, fixture with its data layout, expected model facts)
CASES = {
    "edvr_m_reds_x4": ("reds_root", {"num_feat": 64, "num_frame": 5, "trunk_conv": "static"}),
    "edvr_m_vimeo_x4_bd": ("vimeo_root", {"num_feat": 64, "num_frame": 7}),
    "edvr_l_reds_x4": ("reds_root", {"num_feat": 128, "num_frame": 7, "num_reconstruct_block": 40}),
    "tiny_multi": ("frames_root", {"num_feat": 32, "scales": [2, 3, 4]}),
    "release_tiny": ("shared_videos", {"num_feat": 32, "trunk_conv": "cond_dynamic"}),
    "release_tiny_finetune": ("shared_videos", {"num_feat": 32, "trunk_conv": "cond_dynamic"}),
    "release_tiny_v2": ("frames_root", {"num_feat": 32, "trunk_conv": "cond_dynamic"}),
    "gpu_m": ("frames_root", {"num_feat": 64, "num_frame": 5, "trunk_conv": "cond_dynamic",
                              "scales": [2, 3, 4]}),
}


def build_edvr_from(cfg: DictConfig) -> torch.nn.Module:
    return instantiate(cfg.model)


def test_every_experiment_is_covered() -> None:
    on_disk = {p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")}
    assert on_disk == set(EXPERIMENTS) == set(CASES)


@pytest.fixture
def shared_videos() -> Path:
    """The real clips release_tiny names (skips without ../shared/data)."""
    return shared_path("videos", "psd_testvideo.mp4").parent.resolve()


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_fast_dev_run(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    fixture, facts = CASES[name]
    root = request.getfixturevalue(fixture)
    overrides = [f"experiment={name}", f"data.root={root}", *SHRINK, "trainer.fast_dev_run=1"]
    if name == "tiny_multi":
        overrides.append("data=frames")  # its default is REDS; frame folders are quicker here
    if name in ("release_tiny_v2", "gpu_m"):
        overrides.append(f"val_root={root}")  # the held-out frame folders it monitors
    if name == "gpu_m":
        overrides += ["trainer=cpu", "trainer.precision=32-true"]  # its default is one GPU
    full = compose_train(overrides, tmp_path)
    assert full.task_name == name
    # The architecture the experiment trains, as built; then a shallower copy (same widths,
    # frames and heads) runs the step, so the 40-block EDVR-L costs seconds on a CPU.
    model = build_edvr_from(full)
    for key, value in facts.items():
        assert model.config[key] == value, key
    if model.config["num_reconstruct_block"] > 4:
        overrides += ["+model.num_reconstruct_block=2", "+model.num_extract_block=1"]
    module, datamodule, trainer = build(compose_train(overrides, tmp_path))
    assert isinstance(module, VSRLitModule)
    assert datamodule.num_frames == module.model.num_frames == full.model.num_frames
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 1
    assert "val/psnr" in trainer.callback_metrics
    scales = datamodule.degradation.val_scales
    kinds = datamodule.degradation.val_kinds
    expected = {f"val/psnr_x{s}_{k}" for s in scales for k in kinds}
    # fast_dev_run validates one batch: one (scale, degradation) of the configured ones.
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    present = {k for k in metrics if k.startswith("val/psnr_x")}
    assert present and present <= expected
    mean = sum(metrics[k] for k in present) / len(present)
    assert metrics["val/psnr"] == pytest.approx(mean, rel=1e-6)


def test_schedule_and_tsa_settings_of_edvr_l(tmp_path: Path) -> None:
    cfg = compose_train(["experiment=edvr_l_reds_x4"], tmp_path)
    sched = instantiate(cfg.module.scheduler.lr_lambda)
    assert sched.restarts() == [0, 50000, 150000, 300000, 450000]
    assert sched(50000) == 0.5 and cfg.module.tsa_iters == 50000
    assert cfg.trainer.gradient_clip_val == 1.0


def test_frames_and_scales_follow_the_model(tmp_path: Path) -> None:
    cfg = compose_train(["model.num_frames=3", "model.scales=[2,4]", "degradation=all"], tmp_path)
    assert cfg.data.num_frames == 3
    assert cfg.degradation.scales == cfg.degradation.val_scales == [2, 4]
    cfg = compose_train(["model.preset=tiny", "degradation=bicubic"], tmp_path)
    assert cfg.degradation.scales == [2, 3, 4] and cfg.degradation.val_scales == [4]
    assert instantiate(cfg.model).config["num_feat"] == 32


def test_mismatched_frames_are_reported(reds_root: Path, tmp_path: Path) -> None:
    cfg = compose_train(
        ["experiment=edvr_m_reds_x4", f"data.root={reds_root}", "data.num_frames=7"], tmp_path
    )
    with pytest.raises(TrainingError, match="set model.num_frames=7 instead"):
        build(cfg)


def test_mismatched_scales_are_reported(reds_root: Path, tmp_path: Path) -> None:
    cfg = compose_train(
        ["experiment=edvr_m_reds_x4", f"data.root={reds_root}", "degradation.val_scales=[2,4]"],
        tmp_path,
    )
    with pytest.raises(TrainingError, match=r"set model.scales=\[2, 4\]"):
        build(cfg)


@pytest.mark.parametrize("trainer", ["cpu", "ddp_cpu", "gpu", "ddp"])
@pytest.mark.parametrize("logger", ["csv", "tensorboard"])
def test_trainer_and_logger_groups_compose(trainer: str, logger: str, tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"trainer={trainer}", f"logger={logger}", f"paths.output_dir={tmp_path}"],
        )
    assert cfg.trainer.max_steps == 600000 and cfg.trainer.val_check_interval == 5000
    assert {"gpu": "bf16-mixed", "ddp": "bf16-mixed"}.get(
        trainer, "32-true"
    ) == cfg.trainer.precision
    (node,) = cfg.logger.values()
    made = instantiate(node)
    assert Path(made.save_dir) == tmp_path
    if trainer in ("cpu", "ddp_cpu"):  # GPU trainers cannot be built on this machine
        built = instantiate(cfg.trainer, logger=False)
        assert built.max_steps == 600000
        assert (built.world_size == 2) is (trainer == "ddp_cpu")


def test_sweeper_and_slurm_launcher_compose(tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "hparams_search=optuna",
                "hydra/launcher=slurm",
                "trainer=ddp",
                "trainer.devices=8",
                "trainer.num_nodes=2",
            ],
            return_hydra_config=True,
        )
    assert cfg.optimized_metric == "val/psnr"
    assert cfg.hydra.sweeper.direction == "maximize"
    assert "module.optimizer.lr" in cfg.hydra.sweeper.params
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert cfg.hydra.launcher.tasks_per_node == 8 and cfg.hydra.launcher.nodes == 2
