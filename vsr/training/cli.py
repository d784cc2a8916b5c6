"""``vsr-train``: the Hydra command line around :func:`vsr.training.run.train`.

Examples::

    vsr-train experiment=edvr_m_reds_x4 data.root=/data/REDS trainer=ddp trainer.devices=8
    vsr-train experiment=tiny_multi data=videos data.root=clips/ trainer.max_steps=5
    vsr-train -m hparams_search=optuna experiment=tiny_multi data.root=...
    vsr-train experiment=edvr_m_reds_x4 ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from vsr.command import run_command
from vsr.resources import CONFIG_DIR as _CONFIGS

#: The config tree (in the installed package, or ``conf/`` of a checkout), absolute so the
#: console script works from any directory.
CONFIG_DIR = str(_CONFIGS)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Train; returns ``cfg.optimized_metric`` (if set) for hyper-parameter sweepers."""
    from vsr.training.run import train  # after Hydra parsed the arguments: fast --help

    metrics: dict[str, float] = {}
    status = run_command("vsr-train", lambda: metrics.update(train(cfg)), sigterm=False)
    if status:
        sys.exit(status)
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise KeyError(
            f"optimized_metric {name!r} was not logged (have {sorted(metrics)}); make sure "
            "validation runs (trainer.val_check_interval <= trainer.max_steps)"
        )
    return metrics[name]


if __name__ == "__main__":
    main()
