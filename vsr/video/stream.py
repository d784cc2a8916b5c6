"""Sliding temporal windows over a frame stream, with edge padding, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def sliding_windows(items: Iterable[Item], num_frames: int) -> Iterator[list[Item]]:
    """Yield, for every item, the window of ``num_frames`` items centred on it.

    Near the ends the window is padded by repeating the first/last item (edge
    replication: for frame 0 of a 5-frame window the indices are 0, 0, 0, 1, 2): no frame
    from the other side of the cut is shown to the network, unlike reflection. Only
    ``num_frames + 1`` items are held at any time and the input is consumed lazily, so
    memory does not depend on the length of the stream.

    Args:
        items: any iterable (e.g. decoded frames); read once.
        num_frames: window length, odd.

    Yields:
        list of ``num_frames`` items; the centre one is the i-th input item.
    """
    if num_frames < 1 or num_frames % 2 == 0:
        raise ValueError(f"num_frames must be a positive odd number, got {num_frames}")
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
        last = (count if count is not None else read) - 1
        yield [buffer[min(max(j, 0), last)] for j in range(centre - radius, centre + radius + 1)]
        # The oldest frame leaves the window; keep frame 0 while it still pads the start.
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
