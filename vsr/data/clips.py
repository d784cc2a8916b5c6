"""Clip sources: a dataset layout on disk reduced to clips and the centre frames a split uses.

The clips themselves (:class:`vsr.video.clips.Clip`: frame folders and video files) and the
listing, ordering and reading of files belong to :mod:`vsr.video`; this module only decides
which clips a split uses and which windows are sampled from them. The datasets in
:mod:`vsr.data.datasets` only see clips, so every layout gets the same cropping, augmentation
and degradation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from vsr.video.clips import Clip
from vsr.video.stream import pad_index


def window_indices(
    centre: int, num_frames: int, length: int, padding: str = "reflect"
) -> list[int]:
    """Indices of the ``num_frames`` window around ``centre`` in a clip of ``length`` frames.

    At the clip ends the window is padded: ``"replicate"`` repeats the edge frame
    (``-1 -> 0``), ``"reflect"`` mirrors without repeating it (``-1 -> 1``), which keeps real
    motion in the padded frames; a clip too short to reflect falls back to replicate. The
    rule is :func:`vsr.video.stream.pad_index`, the one ``vsr-upscale`` pads with.
    """
    half = num_frames // 2
    return [pad_index(i, length, padding) for i in range(centre - half, centre + half + 1)]


def split_clips(names: list[str], split: str, val_clips: Sequence[str] | int) -> list[str]:
    """The clip names of ``split`` (``train``, ``val`` or ``all``).

    ``val_clips`` names the held-out clips, or says how many of the last clips (in the
    given order) are held out; training never loses all of them.
    """
    if split == "all":
        return names
    if isinstance(val_clips, int):
        count = min(val_clips, max(len(names) - 1, 0)) if split == "train" else val_clips
        held = names[len(names) - count :] if count > 0 else []
    else:
        unknown = sorted(set(val_clips) - set(names))
        if unknown:
            raise ValueError(f"validation clips {unknown} not found among clips {names}")
        held = list(val_clips)
    if split == "val":
        return [n for n in names if n in held]
    if split == "train":
        return [n for n in names if n not in held]
    raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")


class ClipSource(ABC):
    """A dataset layout on disk, reduced to clips and the centre frames a split samples.

    Scanning happens in :meth:`clips`, not in ``__init__``, so configs can be composed and
    instantiated without the data present; errors name the folder or file expected.
    """

    @abstractmethod
    def clips(self) -> list[Clip]:
        """Scan the layout and return its clips (raises a clear error when malformed)."""

    def centres(self, clip: Clip, num_frames: int, training: bool) -> list[int]:
        """Centre frame indices sampled from ``clip``.

        Training uses only windows that fit inside the clip (no padded frames); validation
        uses every frame, with windows padded at the clip ends.
        """
        if not training:
            return list(range(clip.num_frames))
        half = num_frames // 2
        return list(range(half, clip.num_frames - half))
