"""Cutting a clip into segments that can be processed apart and give one continuous result.

A segment owns the output frames ``[first, stop)``. Its windows are exactly the windows a
single pass over the whole clip gives those frames: it reads ``radius`` frames of context on
each side (clamped to the clip), and pads only at the clip's true ends. So segments can be
processed in any order, by any process, and joined into the same frames as one run.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from vsr.video.stream import pad_index

Item = TypeVar("Item")

#: Default output frames per segment: the work lost when a run is killed is at most one
#: segment per process, and each segment costs ``2 * radius`` frames of extra context.
DEFAULT_SEGMENT_FRAMES = 100


@dataclass(frozen=True)
class Segment:
    """Output frames ``first <= i < stop`` of a clip, as segment number ``number``."""

    number: int
    first: int
    stop: int

    @property
    def frames(self) -> int:
        return self.stop - self.first

    def context(self, total: int, radius: int) -> range:
        """The clip frames its windows read: ``radius`` either side, within the clip."""
        return range(max(0, self.first - radius), min(total, self.stop + radius))


def plan_segments(
    total: int, length: int, radius: int, keyframes: Sequence[int] = ()
) -> list[Segment]:
    """Cut ``total`` frames into segments of about ``length`` frames.

    A cut is moved (by at most a quarter of ``length``) to ``k + radius`` for a keyframe
    ``k`` when one is near: the segment's first context frame is then a keyframe, so reading
    it starts there instead of decoding a stretch of the previous group of pictures.

    Args:
        total: frames in the clip.
        length: target output frames per segment (>= 1); ``total`` or more: one segment.
        radius: context frames needed on each side (half the temporal window).
        keyframes: sorted indices of the clip's keyframes (empty: cut at exact multiples).
    """
    if length < 1:
        raise ValueError(f"segment length must be >= 1 frame, got {length}")
    cuts = [0]
    slack = length // 4
    while total - cuts[-1] > length + slack:
        target = cuts[-1] + length
        cuts.append(_near_keyframe(target, slack, radius, keyframes) or target)
    cuts.append(total)
    return [Segment(n, a, b) for n, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False))]


def _near_keyframe(target: int, slack: int, radius: int, keyframes: Sequence[int]) -> int | None:
    """The cut ``k + radius`` nearest to ``target`` within ``slack``, for a keyframe ``k``."""
    best = None
    i = bisect.bisect_left(keyframes, target - radius - slack)
    while i < len(keyframes) and keyframes[i] + radius <= target + slack:
        cut = keyframes[i] + radius
        if cut > target - slack and (best is None or abs(cut - target) < abs(best - target)):
            best = cut
        i += 1
    return best


def segment_windows(
    frames: Iterable[Item], segment: Segment, total: int, num_frames: int,
    padding: str = "reflect",
) -> Iterator[list[Item]]:
    """Yield the window of every output frame of ``segment``, as a whole-clip pass would.

    Args:
        frames: the clip frames ``segment.context(total, num_frames // 2)``, in order; read
            lazily, at most about ``num_frames + 1`` held at a time.
        segment: the output frames wanted.
        total: frames in the whole clip (padding happens only at its ends).
        num_frames: window length (odd); padding: as :func:`vsr.video.stream.sliding_windows`.
    """
    if num_frames < 1 or num_frames % 2 == 0:
        raise ValueError(f"num_frames must be a positive odd number, got {num_frames}")
    radius = num_frames // 2
    context = segment.context(total, radius)
    source = iter(frames)
    buffer: dict[int, Item] = {}
    next_read = context.start
    for centre in range(segment.first, segment.stop):
        wanted = [pad_index(j, total, padding) for j in range(centre - radius, centre + radius + 1)]
        while next_read <= max(wanted):
            try:
                buffer[next_read] = next(source)
            except StopIteration:
                raise ValueError(
                    f"segment {segment.number} needs frame {next_read} of {total}, but its "
                    "input ended early"
                ) from None
            next_read += 1
        yield [buffer[j] for j in wanted]
        # Later windows never reach back before centre - radius (see sliding_windows).
        buffer.pop(centre - radius, None)
