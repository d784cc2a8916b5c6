"""Training: the LightningModule, losses, schedules, callbacks, ``train(cfg)`` and export.

Example::

    from hydra import compose, initialize_config_dir
    from vsr.training import train
    with initialize_config_dir(config_dir="/path/to/vsr/conf", version_base="1.3"):
        cfg = compose("train", overrides=["experiment=tiny_multi", "data.root=clips/"])
    metrics = train(cfg)
"""

from vsr.training.losses import PixelLoss, charbonnier_loss
from vsr.training.module import VSRLitModule, parameter_groups
from vsr.training.run import build, train
from vsr.training.schedules import WarmupCosineRestarts

__all__ = [
    "PixelLoss",
    "VSRLitModule",
    "WarmupCosineRestarts",
    "build",
    "charbonnier_loss",
    "parameter_groups",
    "train",
]
