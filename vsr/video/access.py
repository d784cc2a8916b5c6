"""Random access to a video's frames that returns exactly what a linear decode returns.

A read of frames ``[first, stop)`` seeks to the last keyframe at or before ``first`` (as
found by :func:`vsr.video.index.index_video`) and decodes forward. Every decoded frame is
recognised by its raw timestamp (or, for files whose timestamps cannot tell frames apart, by
counting from the start of the file), so:

- frames the decoder emits before the keyframe after a seek (open-GOP leading pictures,
  which reference frames before the seek point and come out damaged) are dropped;
- a seek that lands after the keyframe (demuxers whose index counts in decode time) is
  retried from an earlier keyframe;
- anything unexpected (a frame out of sequence) restarts from the beginning of the file,
  which is the linear decode by definition.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from vsr.video.colour import ColourInfo, frame_to_rgb
from vsr.video.errors import UnreadableClipError
from vsr.video.index import FrameIndex, decode_packets, index_video
from vsr.video.metadata import open_input_container, probe

log = logging.getLogger("vsr.video")

#: Earlier keyframes tried when a seek lands too late, before decoding from the start.
_SEEK_TRIES = 3
#: A read this many frames (or fewer) past the live decoder's position decodes on instead of
#: seeking: cheaper than a seek plus the frames from the keyframe.
_CONTINUE_WITHIN = 48

PacketSink = Callable[[av.Packet], None]


class _TooLate(Exception):
    """The seek landed after the keyframe asked for."""


class _Lost(Exception):
    """A frame came out of sequence: only a decode from the start is trusted now."""


class VideoFile:
    """Frames of a video file by index, in presentation order, as RGB or as PyAV frames.

    Args:
        path: the video file.
        index: its :class:`~vsr.video.index.FrameIndex` (built when not given).
        colour: the matrix and range for RGB conversion (probed when not given): the same
            :func:`~vsr.video.colour.frame_to_rgb` conversion ``vsr-upscale`` uses.

    Raises:
        VideoError: the file is missing or unreadable.
    """

    def __init__(
        self, path: str | Path, index: FrameIndex | None = None, colour: ColourInfo | None = None
    ) -> None:
        self.path = Path(path)
        self.index = index if index is not None else index_video(self.path)
        self.colour = colour if colour is not None else probe(self.path).colour
        keys = self.index.keys
        self._position_of = {k: i for i, k in enumerate(keys)} if keys is not None else None
        self._container: Any = None
        self._live: Iterator[tuple[int, av.VideoFrame]] | None = None
        self._live_next = 0

    @property
    def num_frames(self) -> int:
        return self.index.num_frames

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers each open their own decoder: containers cannot be pickled.
        state = self.__dict__.copy()
        state["_container"] = None
        state["_live"] = None
        return state

    def close(self) -> None:
        """Close the decoder (it reopens on the next read)."""
        self._live = None
        if self._container is not None:
            self._container.close()
            self._container = None

    # ---------------------------------------------------------------------------------------
    # Decoding a range
    # ---------------------------------------------------------------------------------------

    def frames(
        self,
        first: int = 0,
        stop: int | None = None,
        *,
        streams: Sequence[Any] = (),
        on_packet: PacketSink | None = None,
        until: float | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield ``(i, frame)`` for frames ``first <= i < stop`` in order.

        Args:
            streams: other streams of the file to demux alongside (audio, subtitles), as
                stream objects of any container of this file (matched by index); their
                packets go to ``on_packet`` in file order, from the seek point on (a seek
                that is retried forwards nothing from the failed attempt).
            until: after the last frame, keep demuxing the other streams until their packets
                pass this time (seconds, stream clock): audio stored later than its video, or
                longer than it; None: to the end of the file.
            warn: receives messages about skipped packets.

        Raises:
            UnreadableClipError: the file now decodes to fewer frames than it was indexed with.
        """
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        if first >= stop:
            return
        candidates: list[int | None] = []
        if self._position_of is not None:
            kf = self.index.keyframe_before(first)
            while kf > 0 and len(candidates) < _SEEK_TRIES:
                candidates.append(kf)
                kf = self.index.keyframe_before(kf - 1)
        candidates.append(None)  # decode from the start of the file
        next_wanted = first
        stream_indices = [s.index for s in streams]
        for attempt, keyframe in enumerate(candidates):
            try:
                for i, frame in self._run(keyframe, stream_indices, on_packet, until, stop,
                                          warn):
                    if i < next_wanted:
                        continue
                    yield i, frame
                    next_wanted = i + 1
            except _TooLate:
                log.debug("%s: seek to keyframe %s landed late; trying an earlier one",
                          self.path.name, keyframe)
                continue
            except _Lost:
                log.debug("%s: frames out of sequence after a seek (attempt %d); decoding "
                          "from the start", self.path.name, attempt)
                if keyframe is None:
                    break
                candidates[attempt + 1 :] = [None]
                continue
            if next_wanted < stop:
                break
            return
        raise UnreadableClipError(
            f"could not decode frame {next_wanted} of {self.path} ({self.num_frames} frames "
            "were indexed): the file changed or is damaged"
        )

    def _open_at(self, keyframe: int | None) -> Any:
        """A container positioned at ``keyframe`` (None: a fresh one at the file's start)."""
        if keyframe is None or self._container is None:
            if self._container is not None:
                self._container.close()
            self._container = open_input_container(self.path)
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            if keyframe is not None:
                # Let the decoder see the start of the stream first: some streams carry what
                # every frame needs there (in-band parameter sets; x264's version SEI, which
                # FFmpeg needs to decode old x264 4:4:4 streams correctly).
                self._prime(stream)
        if keyframe is not None:
            assert self.index.keys is not None
            stream = self._container.streams.video[0]
            try:
                self._container.seek(
                    self.index.keys[keyframe], stream=stream, backward=True, any_frame=False
                )
            except av.FFmpegError as exc:
                log.debug("%s: seek failed (%s)", self.path.name, exc)
                raise _TooLate from None
        return self._container

    def _prime(self, stream: Any) -> None:
        try:
            for packet in self._container.demux(stream):
                if packet.size:
                    packet.decode()
                    break
        except av.FFmpegError:
            pass  # the seek that follows starts cleanly either way

    def _run(
        self,
        keyframe: int | None,
        stream_indices: list[int],
        on_packet: PacketSink | None,
        until: float | None,
        stop: int,
        warn: Callable[[str], None] | None,
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode from ``keyframe`` (None: the file's start), recognising every frame."""
        container = self._open_at(keyframe)
        video = container.streams.video[0]
        wanted = [video, *[container.streams[i] for i in stream_indices]]
        done = False  # the last wanted frame is out: only the other streams' tail is read
        started = False  # the keyframe asked for has come out: this attempt holds
        # Other streams' packets read before that: forwarded only if the attempt holds.
        pending: list[av.Packet] = []

        def packets() -> Iterator[av.Packet]:
            for packet in container.demux(wanted):
                if packet.stream.index != video.index:
                    if on_packet is not None and packet.dts is not None:
                        if started:
                            on_packet(packet)
                        else:
                            pending.append(packet)
                elif not done:
                    yield packet
                    continue
                if done:
                    time = _packet_time(packet)
                    if until is not None and time is not None and time > until:
                        return

        expected = keyframe or 0
        count = 0
        source = packets()
        try:
            for frame in decode_packets(source, video, warn):
                if self._position_of is not None:
                    i = self._position_of.get(frame.pts)
                    if i is None:
                        if started:
                            raise _Lost
                        continue  # a damaged leading picture with an unknown timestamp
                else:
                    i, count = count, count + 1
                if not started:
                    if i < expected:
                        continue  # leading pictures of an open GOP: they need older frames
                    if i > expected:
                        raise _TooLate
                    started = True
                    for packet in pending:
                        on_packet(packet)  # type: ignore[misc]
                    pending.clear()
                elif i != expected:
                    raise _Lost
                if frame.is_corrupt and i not in self.index.corrupt and keyframe is not None:
                    raise _Lost  # damaged only after the seek: missing references
                expected += 1
                yield i, frame
                if expected >= stop:
                    break
        except av.FFmpegError as exc:  # a damaged tail: keep what decoded
            if warn is not None:
                warn(f"stopped reading at a damaged part of the file ({exc})")
        if stream_indices and on_packet is not None:
            done = True
            for _ in source:  # drain: forwards the other streams' late packets
                pass

    # ---------------------------------------------------------------------------------------
    # Reading frames by index (training windows)
    # ---------------------------------------------------------------------------------------

    def read(self, indices: Sequence[int], cache: OrderedDict[int, np.ndarray] | None = None
             ) -> np.ndarray:
        """Frames at ``indices`` as ``(T, H, W, 3)`` uint8 RGB (converted like vsr-upscale).

        ``cache`` (index -> RGB), when given, is consulted first and receives every frame
        decoded on the way.
        """
        for i in indices:
            if not 0 <= i < self.num_frames:
                raise IndexError(f"frame {i} out of range for {self.path} ({self.num_frames})")
        cache = cache if cache is not None else OrderedDict()
        missing = sorted({i for i in indices if i not in cache})
        if missing:
            first, last = missing[0], missing[-1]
            for i, frame in self._frames_from(first, last + 1):
                cache[i] = frame_to_rgb(frame, self.colour)
                cache.move_to_end(i)
        for i in indices:
            cache.move_to_end(i)
        return np.stack([cache[i] for i in indices])

    def _frames_from(self, first: int, stop: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Frames ``[first, stop)``, continuing the previous read's decoder when it is near."""
        gap = first - self._live_next
        near = 0 <= gap and (gap <= _CONTINUE_WITHIN or self._position_of is None)
        if self._live is None or not near:
            self._live = self.frames(first)
            self._live_next = first
        while self._live_next < stop:
            item = next(self._live, None)
            if item is None:
                self._live = None
                raise UnreadableClipError(
                    f"could not decode frame {self._live_next} of {self.path} "
                    f"({self.num_frames} frames were indexed): the file changed or is damaged"
                )
            i, frame = item
            self._live_next = i + 1
            if i >= first:
                yield i, frame

    def __repr__(self) -> str:
        return f"VideoFile({str(self.path)!r}, {self.num_frames} frames, rule={self.index.rule})"


def _packet_time(packet: av.Packet) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return None
    return float(ts * packet.time_base)
