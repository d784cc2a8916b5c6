"""Load BasicSR EDVR checkpoints (official REDS / Vimeo-90K EDVR-M and EDVR-L weights)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from vsr.models.edvr import EDVR

#: BasicSR keeps the x4 upsampler at the top level; ours lives under ``heads.x4``.
_HEAD_PREFIXES = ("upconv1.", "upconv2.", "conv_hr.", "conv_last.")


def _unwrap(obj: object, source: str, param_key: str | None) -> dict[str, torch.Tensor]:
    """Return the parameter dict of a BasicSR checkpoint or a bare state dict."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a dict of tensors, got {type(obj).__name__}")
    if param_key is not None:
        if param_key not in obj:
            raise ValueError(f"{source}: no {param_key!r} entry; it has {', '.join(map(str, obj))}")
        obj = obj[param_key]
    else:
        # BasicSR saves {"params": ...} or {"params_ema": ...}; EMA weights are the better ones.
        for key in ("params_ema", "params"):
            if key in obj:
                obj = obj[key]
                break
    state = {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}
    if "conv_first.weight" not in state:
        hint = (
            " (a predeblur EDVR for deblurring is not supported)"
            if any(k.startswith("predeblur.") for k in state)
            else ""
        )
        raise ValueError(
            f"{source}: not a BasicSR EDVR state dict, 'conv_first.weight' is missing{hint}"
        )
    return state


def _count_blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.conv1\.weight$")
    ids = [int(m.group(1)) for k in state if (m := pattern.match(k))]
    return max(ids) + 1 if ids else 0


def basicsr_edvr_config(state: Mapping[str, torch.Tensor]) -> dict:
    """Infer our EDVR arguments from the tensor shapes of a BasicSR EDVR state dict."""
    num_feat = state["conv_first.weight"].shape[0]
    with_tsa = "fusion.temporal_attn1.weight" in state
    fusion_in = state["fusion.feat_fusion.weight" if with_tsa else "fusion.weight"].shape[1]
    offset_out = state["pcd_align.dcn_pack.l1.conv_offset.weight"].shape[0]
    k = state["pcd_align.dcn_pack.l1.weight"].shape[-1]
    return {
        "num_feat": num_feat,
        "num_frame": fusion_in // num_feat,
        # conv_offset predicts (dx, dy, mask) for every tap of every deformable group.
        "deformable_groups": offset_out // (3 * k * k),
        "num_extract_block": _count_blocks(state, "feature_extraction"),
        "num_reconstruct_block": _count_blocks(state, "reconstruction"),
        "with_tsa": with_tsa,
        "trunk_conv": "static",
        "scales": [4],
        "num_hr_feat": state["conv_hr.weight"].shape[0],
        # BasicSR adds the bilinearly upsampled centre frame.
        "base_upsample": "bilinear",
    }


def load_basicsr_edvr(
    path_or_state_dict: str | Path | Mapping[str, torch.Tensor],
    param_key: str | None = None,
    device: str | torch.device = "cpu",
) -> EDVR:
    """Build our EDVR (static trunk, x4) from a BasicSR EDVR checkpoint and load it strictly.

    Channels, frames, deformable groups, block counts and TSA are read from the tensor
    shapes; the result computes what BasicSR's ``EDVR`` computes for the same weights and
    input (only non-predeblur, x4 EDVR exists in BasicSR).

    Args:
        path_or_state_dict: a ``.pth`` file as BasicSR saves it (``{"params": ...}`` and/or
            ``{"params_ema": ...}``) or the state dict itself.
        param_key: which entry to load; default ``params_ema`` when present, else ``params``.
        device: where to put the model.

    Returns:
        The model in eval mode; ``model.config["preset"]`` is ``"m"`` (overridden by every
        inferred field, so ``build_edvr(**model.config)`` rebuilds it).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not a BasicSR EDVR, or keys are missing or unexpected (all
            are listed).
    """
    from vsr.models.presets import build_edvr  # presets imports edvr; keep import order flat

    if isinstance(path_or_state_dict, Mapping):
        source, obj = "state dict", path_or_state_dict
    else:
        path = Path(path_or_state_dict)
        if not path.is_file():
            raise FileNotFoundError(f"BasicSR EDVR checkpoint not found: {path}")
        source, obj = str(path), torch.load(path, map_location="cpu", weights_only=True)
    state = _unwrap(obj, source, param_key)
    try:
        config = basicsr_edvr_config(state)
    except KeyError as err:
        raise ValueError(f"{source}: not a BasicSR EDVR state dict, {err} is missing") from None

    model = build_edvr("m", **config)
    renamed = {
        ("heads.x4." + k if k.startswith(_HEAD_PREFIXES) else k): v for k, v in state.items()
    }
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(renamed)), sorted(set(renamed) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{source}: does not match a BasicSR EDVR with {config}; "
            f"missing keys: {missing or 'none'}; unexpected keys: {unexpected or 'none'}"
        )
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{source}: tensor shapes do not match: {err}") from None
    return model.to(device).eval()
