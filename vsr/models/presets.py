"""EDVR presets and the builder Hydra configs point at."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from vsr.models.edvr import EDVR

#: Architecture sizes. ``m`` and ``l`` are the published EDVR-M / EDVR-L; ``tiny`` is small
#: enough to train and run on a laptop CPU (tests, demos).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "num_feat": 32,
        "num_frame": 5,
        "deformable_groups": 4,
        "num_extract_block": 2,
        "num_reconstruct_block": 4,
        "cond_dim": 32,
        "num_hr_feat": 32,
    },
    "m": {
        "num_feat": 64,
        "num_frame": 5,
        "deformable_groups": 8,
        "num_extract_block": 5,
        "num_reconstruct_block": 10,
    },
    "l": {
        "num_feat": 128,
        "num_frame": 7,
        "deformable_groups": 8,
        "num_extract_block": 5,
        "num_reconstruct_block": 40,
    },
}


#: Options older versions kept in ``model.config`` that are not architecture (the offset
#: warning threshold, now the training callback's own): ignored in stored configs.
RETIRED_OPTIONS = frozenset({"offset_warn_threshold"})


def stored_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A model config read from a file, without the options that are no longer in it.

    ``build_edvr(**stored_config(config))`` rebuilds the model of a file written by any vsr
    version (a retired option never changed the weights or the outputs).
    """
    return {k: v for k, v in config.items() if k not in RETIRED_OPTIONS}


def build_edvr(preset: str = "m", num_frames: int | None = None, **overrides: Any) -> EDVR:
    """Build an EDVR from a preset and overrides of any :class:`EDVR` argument.

    ``build_edvr(**model.config)`` rebuilds the architecture of ``model``.

    Args:
        preset: ``tiny``, ``m`` or ``l``.
        num_frames: input frames; the configs' name for EDVR's ``num_frame`` (BasicSR's name,
            kept in ``model.config`` and exported checkpoints).
        **overrides: e.g. ``trunk_conv="dynamic"``, ``scales=(4,)``, ``num_frame=3``.

    Raises:
        ValueError: for an unknown preset or argument.

    Example:
        >>> model = build_edvr("tiny", trunk_conv="static", scales=(4,))
        >>> model.scales
        (4,)
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown EDVR preset {preset!r}: expected one of {', '.join(PRESETS)}")
    known = set(inspect.signature(EDVR).parameters)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"unknown EDVR option(s) {', '.join(unknown)}: "
            f"expected some of {', '.join(sorted(known))}"
        )
    if num_frames is not None and overrides.setdefault("num_frame", num_frames) != num_frames:
        raise ValueError(f"num_frames={num_frames} but num_frame={overrides['num_frame']}")
    kwargs = {**PRESETS[preset], **overrides}
    if "scales" in kwargs:
        kwargs["scales"] = tuple(int(s) for s in kwargs["scales"])  # Hydra passes a ListConfig
    model = EDVR(**kwargs)
    model.config = {"preset": preset, **model.config}
    return model
