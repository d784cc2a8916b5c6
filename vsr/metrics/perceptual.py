"""LPIPS (Zhang et al. 2018) through the ``lpips`` package, without any download.

LPIPS needs two sets of weights:

* the ImageNet backbone (AlexNet by default, VGG-16 as an option). ``lpips`` asks
  torchvision for it, which downloads into the torch hub cache when the file is missing.
  We never let that happen: we read the file from the cache
  (``$TORCH_HOME/hub/checkpoints/``, by default ``~/.cache/torch/hub/checkpoints/``) or from
  a path the user gives, and raise :class:`LPIPSWeightsMissing` naming the file otherwise;
* the learned linear layers, which ship inside the ``lpips`` package.

For tests, ``random_backbone_seed`` replaces the ImageNet backbone by a seeded random one
(the linear layers stay the shipped ones), which keeps the metric's structure: identical
images score 0 and the score grows with the distortion.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import lpips
import torch
from torch import nn

from vsr.errors import UserError

#: The torchvision ImageNet files lpips's backbones come from (names as torchvision caches them).
BACKBONE_FILES: dict[str, str] = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
}
_BACKBONE_URLS: dict[str, str] = {
    net: f"https://download.pytorch.org/models/{name}" for net, name in BACKBONE_FILES.items()
}


class LPIPSWeightsMissing(UserError, FileNotFoundError):
    """The ImageNet backbone weights LPIPS needs are not on disk (and we do not download)."""


def default_backbone_path(net: str = "alex") -> Path:
    """Where torchvision caches the backbone ``net`` (honours ``TORCH_HOME``)."""
    if net not in BACKBONE_FILES:
        raise ValueError(
            f"unknown LPIPS backbone {net!r}: expected one of {sorted(BACKBONE_FILES)}"
        )
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[net]


def _missing_message(net: str, path: Path, given: bool) -> str:
    where = "the file given" if given else "the torch hub cache"
    return (
        f"LPIPS ({net}) needs the ImageNet backbone weights {BACKBONE_FILES[net]}, which are not "
        f"in {where}: {path} does not exist. Without network access they cannot be downloaded "
        f"here: fetch {_BACKBONE_URLS[net]} on a connected machine and copy it to {path} "
        f"(or set TORCH_HOME so that $TORCH_HOME/hub/checkpoints/{BACKBONE_FILES[net]} exists, "
        f"or pass the file's path, e.g. vsr-eval --lpips-weights PATH)."
    )


def _load_backbone(model: lpips.LPIPS, path: Path) -> None:
    """Copy torchvision ``features.*`` weights from ``path`` into lpips's sliced backbone."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated download or a foreign file
        raise LPIPSWeightsMissing(
            f"could not read LPIPS backbone weights {path}: {err}. Replace the file with a "
            f"complete copy of {path.name}."
        ) from err
    # lpips keeps torchvision's layer index as the module name inside each slice, so layer
    # `k` of slice `i` is `features.k` of the torchvision state dict.
    with torch.no_grad():
        for slice_module in model.net.children():
            for index, layer in slice_module.named_children():
                for name, param in layer.named_parameters(recurse=False):
                    key = f"features.{index}.{name}"
                    if key not in state or state[key].shape != param.shape:
                        raise LPIPSWeightsMissing(
                            f"{path} is not the {model.pnet_type} ImageNet checkpoint LPIPS needs: "
                            f"{key} is missing or has the wrong shape. Expected {path.name} "
                            f"from torchvision."
                        )
                    param.copy_(state[key])


class LPIPS(nn.Module):
    """Learned perceptual distance (lower is closer), one value per image pair.

    Args:
        net: backbone, ``"alex"`` (the usual choice for evaluation) or ``"vgg"``.
        device: where to run it.
        backbone_weights: torchvision ImageNet checkpoint of the backbone; ``None`` looks in
            the torch hub cache (:func:`default_backbone_path`).
        random_backbone_seed: if set, use a random backbone drawn with this seed instead of
            the ImageNet one (for tests; the numbers are then not LPIPS).

    Raises:
        LPIPSWeightsMissing: if the backbone file does not exist or is not readable.

    Example:
        >>> metric = LPIPS(random_backbone_seed=0)
        >>> x = torch.rand(2, 3, 32, 32)
        >>> metric(x, x).tolist()
        [0.0, 0.0]
    """

    def __init__(
        self,
        net: Literal["alex", "vgg"] = "alex",
        device: torch.device | str = "cpu",
        backbone_weights: str | Path | None = None,
        random_backbone_seed: int | None = None,
    ) -> None:
        super().__init__()
        if net not in BACKBONE_FILES:
            raise ValueError(
                f"unknown LPIPS backbone {net!r}: expected one of {sorted(BACKBONE_FILES)}"
            )
        self.net_name = net
        path: Path | None = None
        if random_backbone_seed is None:
            path = Path(backbone_weights) if backbone_weights else default_backbone_path(net)
            if not path.is_file():
                raise LPIPSWeightsMissing(_missing_message(net, path, backbone_weights is not None))
        # pnet_rand=True builds the backbone without torchvision's download; the linear
        # layers (pretrained=True) come from the lpips package itself.
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            warnings.simplefilter("ignore")  # torchvision's deprecation of `pretrained=`
            torch.manual_seed(0 if random_backbone_seed is None else random_backbone_seed)
            model = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
        if path is not None:
            _load_backbone(model, path)
        self.backbone_path = path
        self.model = model.eval().requires_grad_(False).to(device)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LPIPS distance of each pair.

        Args:
            pred, target: (B, 3, H, W) RGB float tensors in [0, 1].

        Returns:
            (B,) float32 tensor, 0 for identical images.
        """
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
            raise ValueError(
                f"expected two (B, 3, H, W) tensors of equal shape, got {tuple(pred.shape)} "
                f"and {tuple(target.shape)}"
            )
        device = next(self.model.parameters()).device
        pred = pred.to(device=device, dtype=torch.float32)
        target = target.to(device=device, dtype=torch.float32)
        # normalize=True maps [0, 1] to the [-1, 1] range lpips expects.
        return self.model(pred, target, normalize=True).reshape(-1)

    def extra_repr(self) -> str:
        source = self.backbone_path if self.backbone_path is not None else "random backbone"
        return f"net={self.net_name!r}, backbone={source}"
