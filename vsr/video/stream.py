"""Sliding temporal windows over a frame stream, with edge padding, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

#: Window padding at the clip ends (the same names and rules as ``vsr.data``'s validation
#: windows, so the network sees at inference the padding it was validated with).
PADDINGS = ("reflect", "replicate")


def pad_index(j: int, length: int, padding: str = "reflect") -> int:
    """Map a window index that may fall outside ``[0, length)`` back into the clip.

    ``"replicate"`` repeats the edge frame (-1 -> 0); ``"reflect"`` mirrors without
    repeating it (-1 -> 1), which keeps real motion in the padded frames; a one-frame clip
    can only replicate.
    """
    if padding == "reflect" and length > 1:
        period = 2 * (length - 1)
        j %= period
        return period - j if j >= length else j
    if padding not in PADDINGS:
        raise ValueError(f"unknown window padding {padding!r}: expected one of {PADDINGS}")
    return min(max(j, 0), length - 1)


def sliding_windows(
    items: Iterable[Item], num_frames: int, padding: str = "reflect"
) -> Iterator[list[Item]]:
    """Yield, for every item, the window of ``num_frames`` items centred on it.

    Near the ends the window is padded (see :func:`pad_index`; for frame 0 of a 5-frame
    window: indices 2, 1, 0, 1, 2 with ``reflect``, 0, 0, 0, 1, 2 with ``replicate``).
    Only about ``num_frames + 1`` items are held at any time and the input is consumed
    lazily, so memory does not depend on the length of the stream.

    Args:
        items: any iterable (e.g. decoded frames); read once.
        num_frames: window length, odd.
        padding: ``"reflect"`` or ``"replicate"``.

    Yields:
        list of ``num_frames`` items; the centre one is the i-th input item.
    """
    if num_frames < 1 or num_frames % 2 == 0:
        raise ValueError(f"num_frames must be a positive odd number, got {num_frames}")
    pad_index(0, 1, padding)  # validate the name before reading anything
    radius = num_frames // 2
    source = iter(items)
    buffer: dict[int, Item] = {}
    count: int | None = None  # known once the input is exhausted
    read = 0
    centre = 0
    while True:
        while count is None and read <= centre + radius:
            try:
                buffer[read] = next(source)
                read += 1
            except StopIteration:
                count = read
        if count is not None and centre >= count:
            return
        # Until the end is known every index up to centre + radius has been read, so
        # padding is only needed below 0, where the length does not matter.
        length = count if count is not None else read
        yield [
            buffer[pad_index(j, length, padding) if (j < 0 or j >= length) else j]
            for j in range(centre - radius, centre + radius + 1)
        ]
        # The oldest frame leaves the window. Reflection at the end only reaches back to
        # 2 * (length - 1) - (centre + radius) >= centre - radius, so nothing older is needed.
        buffer.pop(centre - radius, None)
        centre += 1


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Group an iterable into lists of ``size`` (the last one may be shorter)."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
