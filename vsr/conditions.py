"""The conditions one network serves: upscaling factors and degradation types.

Defined once here so the model's condition embedding, the data pipeline that produces the
degradations and the command-line tools all agree on names and integer ids.
"""

from __future__ import annotations

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

    Returns:
        LongTensor of shape ``(batch_size,)`` on ``device``.
    """
    if isinstance(degradation, torch.Tensor):
        ids = degradation.to(device=device, dtype=torch.long).reshape(-1)
        if ids.numel() == 1:
            ids = ids.expand(batch_size)
    elif isinstance(degradation, (list, tuple)):
        ids = torch.tensor(
            [degradation_id(d) if isinstance(d, str) else int(d) for d in degradation],
            dtype=torch.long,
            device=device,
        )
    else:
        value = degradation_id(degradation) if isinstance(degradation, str) else int(degradation)
        ids = torch.full((batch_size,), value, dtype=torch.long, device=device)
    if ids.shape[0] != batch_size:
        raise ValueError(f"got {ids.shape[0]} degradation ids for a batch of {batch_size} samples")
    bad = (ids < 0) | (ids >= len(DEGRADATIONS))
    if bool(bad.any()):
        raise ValueError(
            f"unknown degradation id {int(ids[bad][0])}: expected 0..{len(DEGRADATIONS) - 1} "
            f"({', '.join(DEGRADATIONS)})"
        )
    return ids
