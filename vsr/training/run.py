"""``train(cfg)``: build everything from a composed Hydra config and fit.

Kept free of ``@hydra.main`` so tests and notebooks call it with a config from Hydra's
compose API; :mod:`vsr.training.cli` is the thin command-line entry.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning import Callback, Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, Timer
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from vsr.data.datamodule import VSRDataModule
from vsr.training.errors import TrainingError
from vsr.training.precision import training_precision

log = logging.getLogger(__name__)


def _instantiate_group(node: DictConfig | None, kind: type) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config mapping (callbacks, loggers)."""
    objects: list[Any] = []
    if not node:
        return objects
    for name, conf in node.items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            obj = instantiate(conf)
            if not isinstance(obj, kind):
                raise TypeError(f"config entry {name!r} built a {type(obj).__name__}, not a {kind}")
            objects.append(obj)
    return objects


def check_compatible(model: torch.nn.Module, datamodule: VSRDataModule) -> None:
    """Fail early, naming the override that fixes it, when data and model disagree.

    The configs take the frames and the training scales from ``model.*``; this catches a
    direct ``data.num_frames=`` or ``degradation.*scales=`` override that breaks that.
    """
    if datamodule.num_frames != model.num_frames:
        raise TrainingError(
            f"the data gives {datamodule.num_frames}-frame windows but the model takes "
            f"{model.num_frames}: set model.num_frames={datamodule.num_frames} instead "
            "(data.num_frames follows it)"
        )
    sampler = datamodule.degradation
    wanted = sorted(set(sampler.scales) | set(sampler.val_scales))
    missing = [s for s in wanted if s not in model.scales]
    if missing:
        raise TrainingError(
            f"the degradation config uses scales {wanted} but the model serves "
            f"{list(model.scales)}: set model.scales={wanted} (degradation.scales follows it) "
            f"or degradation.val_scales to a subset of {list(model.scales)}"
        )


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _only_deeper_trunk(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether the run's model differs from the file's only by a longer trunk."""
    key = "num_reconstruct_block"
    rest = (ours.keys() | theirs.keys()) - {key}
    return (
        isinstance(ours.get(key), int)
        and isinstance(theirs.get(key), int)
        and ours[key] > theirs[key]
        and all(_plain(ours.get(k)) == _plain(theirs.get(k)) for k in rest)
    )


def load_initial_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Start ``model`` from the weights of an exported ``.pt`` (fine-tuning).

    Unlike ``ckpt_path`` (resume: step, optimiser and schedule too), only the weights are
    taken; the run's own config decides everything else. The weights must fit the run's
    architecture exactly, with one exception: a run whose reconstruction trunk is longer
    (``+model.num_reconstruct_block=``) starts with the file's blocks followed by identity
    blocks (:meth:`vsr.models.EDVR.load_shallower_trunk`). Otherwise the error names the
    model settings that differ.
    """
    from vsr.errors import CheckpointError
    from vsr.inference import read_checkpoint

    payload = read_checkpoint(path)
    ours, theirs = dict(getattr(model, "config", {})), payload["model_config"]
    differ = ", ".join(
        f"{k}: run {_plain(ours.get(k))!r} vs file {_plain(theirs.get(k))!r}"
        for k in sorted(ours.keys() | theirs.keys())
        if _plain(ours.get(k)) != _plain(theirs.get(k))
    )
    if _only_deeper_trunk(ours, theirs):
        added = model.load_shallower_trunk(payload["state_dict"])
        log.info(
            "weights initialised from %s, the trunk deepened by %d identity blocks to %d",
            path, added, ours["num_reconstruct_block"],
        )
        return
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(
            f"init_weights={path} does not fit the run's model ({differ or first[:200]}): "
            "set the model.* overrides to the file's values"
        ) from None
    if differ:
        # Settings without weights of their own (e.g. max_offset) may change on purpose.
        log.warning("init_weights=%s was exported with other model settings: %s", path, differ)
    log.info("weights initialised from %s", path)


def build(cfg: DictConfig) -> tuple[Any, VSRDataModule, Trainer]:
    """Instantiate the LightningModule, the DataModule and the Trainer from ``cfg``."""
    datamodule: VSRDataModule = instantiate(cfg.data, _convert_="none")
    model = instantiate(cfg.model)
    check_compatible(model, datamodule)
    if cfg.get("init_weights"):
        load_initial_weights(model, cfg.init_weights)
    module = instantiate(cfg.module, model=model)
    callbacks = _instantiate_group(cfg.get("callbacks"), Callback)
    loggers = _instantiate_group(cfg.get("logger"), Logger)
    if not loggers:
        # Lightning refuses a learning-rate monitor without a logger (e.g. `logger=null`).
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    precision = training_precision(cfg.trainer.precision, cfg.trainer.get("accelerator", "auto"))
    trainer: Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, precision=precision
    )
    return module, datamodule, trainer


def check_time_left(trainer: Trainer, ckpt_path: str | Path) -> None:
    """Refuse to resume a run whose ``trainer.max_time`` the checkpoint has already spent.

    Lightning's timer resumes with the training time of the earlier runs, so a run stopped by
    its time cap and resumed with the same overrides would stop again before its first step.
    """
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is None:
        return
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    state = checkpoint.get("callbacks", {}).get(timer.state_key)
    if state is None:
        return
    timer.load_state_dict(state)  # fit loads the same state again
    remaining = timer.time_remaining()
    if remaining is None or remaining > 0:
        return
    spent = round(timer.time_elapsed())
    one_hour_more = spent + 3600
    raise TrainingError(
        f"ckpt_path={ckpt_path} has already trained for {timedelta(seconds=spent)}, all of "
        f"trainer.max_time ({timedelta(seconds=round(spent + remaining))}), which counts the "
        "earlier runs' time too: raise it to continue, e.g. "
        f"'trainer.max_time=\"{one_hour_more // 86400:02d}:{one_hour_more // 3600 % 24:02d}:"
        f"{one_hour_more // 60 % 60:02d}:{one_hour_more % 60:02d}\"' for one hour more"
    )


def train(cfg: DictConfig) -> dict[str, float]:
    """Train (or resume, with ``cfg.ckpt_path``) and return the final logged metrics.

    Args:
        cfg: the composed ``conf/train.yaml``.

    Returns:
        ``trainer.callback_metrics`` as floats (``val/psnr`` etc. when validation ran).
    """
    if cfg.get("seed") is not None:
        seed_everything(int(cfg.seed), workers=True)
    module, datamodule, trainer = build(cfg)
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise TrainingError(
            f"ckpt_path={ckpt_path} does not exist: give a Lightning .ckpt from a run's "
            "checkpoints/ folder (e.g. checkpoints/last.ckpt)"
        )
    if ckpt_path is not None:
        check_time_left(trainer, ckpt_path)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    best = getattr(trainer.checkpoint_callback, "best_model_path", "")
    if best and trainer.is_global_zero:
        log.info("best checkpoint: %s", best)
    return metrics
