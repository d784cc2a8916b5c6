"""The conditions one network serves: upscaling factors and degradation types.

Defined once here so the model's condition embedding, the data pipeline that produces the
degradations and the command-line tools all agree on names and integer ids.
"""

from __future__ import annotations

from typing import NoReturn

import torch

#: Upscaling factors the default model is trained for.
SCALES: tuple[int, ...] = (2, 3, 4)

#: Degradation types, in id order. The id is what the network's embedding sees.
#: - bicubic: MATLAB bicubic downsampling ("BI").
#: - blur: 13x13 Gaussian blur (sigma 1.6) then subsampling ("BD").
#: - noise: BI plus Gaussian noise.
#: - compression: BI plus H.264 (or JPEG) compression artefacts.
DEGRADATIONS: tuple[str, ...] = ("bicubic", "blur", "noise", "compression")


def degradation_id(name: str) -> int:
    """Map a degradation name to its integer id.

    Raises:
        ValueError: if ``name`` is not one of :data:`DEGRADATIONS`.
    """
    try:
        return DEGRADATIONS.index(name)
    except ValueError:
        raise ValueError(
            f"unknown degradation {name!r}: expected one of {', '.join(DEGRADATIONS)}"
        ) from None


def degradation_ids(
    degradation: str | int | torch.Tensor | list | tuple,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Turn a degradation given as a name, an id, a list of either, or a LongTensor into ids.

    Names and ints are checked on the host; only a LongTensor's ids are read back from its
    device to be checked (a sync on a GPU).

    Returns:
        LongTensor of shape ``(batch_size,)`` on ``device``.
    """
    if isinstance(degradation, torch.Tensor):
        ids = degradation.to(device=device, dtype=torch.long).reshape(-1)
        if ids.numel() == 1:
            ids = ids.expand(batch_size)
        bad = (ids < 0) | (ids >= len(DEGRADATIONS))
        if bool(bad.any()):
            _unknown_id(int(ids[bad][0]))
    else:
        many = isinstance(degradation, (list, tuple))
        values = [
            degradation_id(d) if isinstance(d, str) else int(d)
            for d in (degradation if many else [degradation])
        ]
        for value in values:
            if not 0 <= value < len(DEGRADATIONS):
                _unknown_id(value)
        if many:
            ids = torch.tensor(values, dtype=torch.long, device=device)
        else:  # filled on the device: no host-to-device copy
            ids = torch.full((batch_size,), values[0], dtype=torch.long, device=device)
    if ids.shape[0] != batch_size:
        raise ValueError(f"got {ids.shape[0]} degradation ids for a batch of {batch_size} samples")
    return ids


def _unknown_id(value: int) -> NoReturn:
    raise ValueError(
        f"unknown degradation id {value}: expected 0..{len(DEGRADATIONS) - 1} "
        f"({', '.join(DEGRADATIONS)})"
    )
