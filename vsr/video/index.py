"""Frame indexing: number every frame a video holds, in presentation order, and time it.

One linear decode of the file (no colour conversion) lists the frames as the decoder returns
them; that order *is* presentation order, and frame ``i`` of every reader (training windows,
``vsr-upscale``, evaluation) is the ``i``-th frame of this decode. Nothing is ever dropped.

Timestamps are then derived the way ffmpeg makes them usable, one rule per file (logged at
debug level as ``rule=...``):

- ``pts``: the decoded frames' timestamps increase strictly: they are used as they are
  (variable frame rate stays variable).
- ``sorted``: every frame has a timestamp and none repeats, but they come out of order within
  a few frames, e.g. H.264 with B-frames in AVI, where the container only stores decode-order
  times: the same values sorted are assigned to the frames in the order they were decoded.
- ``rate``: timestamps are missing (raw streams), repeated, or jump backwards beyond a
  reordering (spliced files): frames keep decode order and are timed from the first known
  timestamp at the nominal frame rate.

Random access needs to recognise a frame after a seek: by its raw decoder timestamp when
those are present and unique (``keys``), else by counting from the start of the file.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.video.errors import UnreadableClipError
from vsr.video.metadata import open_input_container

log = logging.getLogger("vsr.video")

#: Largest distance (in frames) between a frame's decode position and its rank by timestamp
#: that still counts as B-frame reordering; beyond it the timestamps are not trusted.
MAX_REORDER = 16
#: Indexes kept in memory (a few bytes per frame each), keyed by path, size and mtime.
_CACHE_SIZE = 256
_cache: OrderedDict[tuple[str, int, int], FrameIndex] = OrderedDict()


@dataclass(frozen=True)
class FrameIndex:
    """Every frame of a video's first video stream, in presentation order.

    Attributes:
        path: the file.
        time_base: unit of :attr:`pts` and :attr:`keys`.
        rate: nominal frame rate (used by the ``rate`` rule).
        start_time: seconds of the file's start (the container's start time, as ffmpeg and
            players count from it); file positions are ``time - start_time``.
        pts: presentation timestamp of every frame, strictly increasing.
        keys: the decoder's raw timestamp of every frame when all are present and unique
            (how a frame is recognised after a seek), else None (frames are counted from the
            start of the file instead).
        keyframes: frames the decoder marked as keyframes (random-access points).
        corrupt: frames the decoder flagged as damaged in the linear decode (a read after a
            seek that flags any other frame is not trusted).
        rule: ``"pts"``, ``"sorted"`` or ``"rate"`` (see the module docstring).
    """

    path: Path
    time_base: Fraction
    rate: Fraction
    start_time: float
    pts: tuple[int, ...]
    keys: tuple[int, ...] | None
    keyframes: tuple[int, ...]
    corrupt: frozenset[int]
    rule: str

    @property
    def num_frames(self) -> int:
        return len(self.pts)

    def time(self, i: int) -> float:
        """Presentation time of frame ``i`` in seconds, on the stream's clock."""
        return float(self.pts[i] * self.time_base)

    def position(self, i: int) -> float:
        """Seconds of frame ``i`` from the start of the file (what players show)."""
        return self.time(i) - self.start_time

    def frames_in(self, start: float | None, end: float | None) -> range:
        """Frames whose file position lies in ``[start, end)`` seconds (None: open end).

        A microsecond of tolerance keeps a frame that sits exactly on a bound that went
        through decimal seconds (``--start 0.2`` for a frame at 0.2 s in 1/90000 units).
        """
        eps = 1e-6
        positions = _Positions(self)
        first = 0 if start is None else bisect.bisect_left(positions, start - eps)
        stop = self.num_frames if end is None else bisect.bisect_left(positions, end - eps)
        return range(first, max(first, stop))

    def keyframe_before(self, i: int) -> int:
        """The last keyframe at or before frame ``i`` (0 when there is none)."""
        k = bisect.bisect_right(self.keyframes, i)
        return self.keyframes[k - 1] if k > 0 else 0


class _Positions:
    """Frame positions as a lazy sequence, for bisect (no list of floats per lookup)."""

    def __init__(self, index: FrameIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return self.index.num_frames

    def __getitem__(self, i: int) -> float:
        return self.index.position(i)


def decode_packets(
    packets: Iterable[av.Packet], stream: av.video.stream.VideoStream, warn=None
) -> Iterator[av.VideoFrame]:
    """Decode the video packets of ``packets`` the same way everywhere.

    Corrupt and undecodable packets are skipped (with ``warn(message)``) by every reader
    alike, so the frames that come out are the same in indexing, training and upscaling.
    """
    for packet in packets:
        if packet.stream.index != stream.index:
            continue
        if packet.is_corrupt:
            if warn is not None:
                warn(f"skipped a corrupt packet (dts {packet.dts})")
            continue
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            if warn is not None:
                warn(f"skipped an undecodable packet (dts {packet.dts}: {exc})")
            continue
        yield from frames


def derive_pts(
    raw: list[int | None], rate: Fraction, time_base: Fraction
) -> tuple[list[int], str]:
    """Presentation timestamps from the decoder's raw ones (see the module docstring).

    Returns:
        (strictly increasing timestamps, the rule used).
    """
    known = [p for p in raw if p is not None]
    if len(known) == len(raw) and raw:
        if all(b > a for a, b in zip(raw, raw[1:], strict=False)):
            return list(raw), "pts"  # type: ignore[arg-type]
        ranked = sorted(range(len(raw)), key=lambda i: raw[i])  # type: ignore[arg-type,return-value]
        ordered = [raw[i] for i in ranked]
        unique = all(b > a for a, b in zip(ordered, ordered[1:], strict=False))
        local = all(abs(rank - i) <= MAX_REORDER for rank, i in enumerate(ranked))
        if unique and local:
            return ordered, "sorted"  # type: ignore[return-value]
    step = 1 / (Fraction(rate) * time_base)
    first = min(known) if known else 0
    return [first + round(i * step) for i in range(len(raw))], "rate"


def index_video(path: str | Path, on_frame: Callable[[], None] | None = None) -> FrameIndex:
    """Index a video file by decoding it once (cached per file while it is unchanged).

    Args:
        path: the video file.
        on_frame: called once per decoded frame (a progress bar); not called on a cache hit.

    Raises:
        ClipNotFoundError, UnreadableClipError (both :class:`~vsr.video.errors.VideoError`):
            a missing file, a file FFmpeg cannot read, or one without any decodable frame.
    """
    path = Path(path)
    if not path.exists():
        open_input_container(path)  # raises the standard "input not found" error
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    index = _build_index(Path(key[0]), on_frame)
    _cache[key] = index
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return index


def _build_index(path: Path, on_frame: Callable[[], None] | None) -> FrameIndex:
    started = time.perf_counter()
    container = open_input_container(path)
    warnings: list[str] = []
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        raw: list[int | None] = []
        keyframes: list[int] = []
        corrupt: set[int] = set()
        try:
            for frame in decode_packets(container.demux(stream), stream, warnings.append):
                if frame.key_frame:
                    keyframes.append(len(raw))
                if frame.is_corrupt:
                    corrupt.add(len(raw))
                raw.append(frame.pts)
                if on_frame is not None:
                    on_frame()
        except av.FFmpegError as exc:  # a damaged tail: index what decoded
            warnings.append(f"stopped at a damaged part of the file ({exc})")
        time_base = stream.time_base or Fraction(1, 1000)
        rate = Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or 25)
        container_start = container.start_time
    finally:
        container.close()
    if not raw:
        raise UnreadableClipError(f"{path}: no decodable video frames (empty or damaged file)")
    pts, rule = derive_pts(raw, rate, time_base)
    keys = None
    if all(p is not None for p in raw) and len(set(raw)) == len(raw):
        keys = tuple(raw)  # type: ignore[arg-type]
    first_time = float(pts[0] * time_base)
    start_time = container_start / av.time_base if container_start is not None else first_time
    # A start after the first frame would give it a negative position: count from the frame.
    start_time = min(start_time, first_time)
    if warnings:
        log.warning("%s: %d decode warnings while indexing (first: %s)",
                    path.name, len(warnings), warnings[0])
    log.debug(
        "%s: %d frames, rule=%s%s, start %.3f s, first frame at %.3f s",
        path.name, len(pts), rule, "" if keys else " (frames recognised by count)",
        start_time, first_time,
    )
    log.info("indexed %s: %d frames in %.1f s%s", path.name, len(pts),
             time.perf_counter() - started,
             "" if keys else " (timestamps cannot tell frames apart: random reads decode "
             "from the start of the file, slow for long files)")
    return FrameIndex(
        path=path, time_base=time_base, rate=rate, start_time=start_time, pts=tuple(pts),
        keys=keys, keyframes=tuple(keyframes) or (0,), corrupt=frozenset(corrupt), rule=rule,
    )


def is_indexed(path: str | Path) -> bool:
    """Whether :func:`index_video` has the file's index at hand (no decode needed)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return False
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns) in _cache


def clear_index_cache() -> None:
    """Forget every cached index (tests; files rewritten within one mtime tick)."""
    _cache.clear()


__all__ = [
    "MAX_REORDER",
    "FrameIndex",
    "clear_index_cache",
    "decode_packets",
    "derive_pts",
    "index_video",
    "is_indexed",
]
