"""Everything one ``vsr-upscale`` job is asked for, as one object built once."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from vsr.inference.runtime import DEFAULT_TILE_OVERLAP
from vsr.video import TranscodeOptions


@dataclass(frozen=True)
class UpscaleOptions:
    """The model's side of an upscaling job; ``video`` holds how the clip is read/written.

    Attributes:
        scale, degradation, strength: the conditions the network is asked for.
        checkpoint: exported weights (None: the shipped default).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto``, ``fp32``, ``fp16``, ``bf16``.
        tile, tile_overlap, max_memory: tiling (see :class:`vsr.inference.ModelProcessor`).
        compare: also write bicubic | model side by side for the middle frame (a PNG).
        video: see :class:`vsr.video.TranscodeOptions`.
    """

    scale: int = 4
    degradation: str = "bicubic"
    strength: float | None = None
    checkpoint: str | None = None
    device: str = "auto"
    precision: str = "auto"
    tile: int | tuple[int, int] | str | None = "auto"
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    max_memory: int | None = None
    compare: str | None = None
    video: TranscodeOptions = field(default_factory=TranscodeOptions)

    def updated(self, **changes) -> UpscaleOptions:
        """A copy with ``changes`` to fields of this object or of :attr:`video`, by name."""
        own = {f.name for f in fields(self)}
        video = {k: v for k, v in changes.items() if k not in own}
        unknown = set(video) - {f.name for f in fields(TranscodeOptions)}
        if unknown:
            raise TypeError(f"unknown upscaling option(s): {', '.join(sorted(unknown))}")
        mine = {k: v for k, v in changes.items() if k in own}
        return replace(self, **mine, video=replace(mine.get("video", self.video), **video))
