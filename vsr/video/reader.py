"""Streaming readers: decode one frame at a time so memory does not grow with length.

Video files are read through :class:`vsr.video.access.VideoFile`, so ``vsr-upscale`` sees
exactly the frames (and the colours) the training reader sees; frame folders are read in
natural name order (``frame2.png`` before ``frame10.png``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vsr.video.access import VideoFile
from vsr.video.colour import frame_to_rgb
from vsr.video.errors import UnreadableClipError, VideoError
from vsr.video.files import list_images, read_image
from vsr.video.metadata import VideoInfo, open_input_container, probe

log = logging.getLogger("vsr.video")

#: After the last wanted video frame, keep demuxing this long (seconds) so that audio and
#: subtitle packets stored later in the file than the video they belong to still get copied.
_TAIL_MARGIN_S = 1.0
#: Print at most this many individual decode warnings, then only a count at the end.
_MAX_WARNINGS = 5


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        pts: presentation time in the input's time base, minus the ``--start`` offset.
        index: position in the output (0-based).
    """

    image: np.ndarray
    pts: int
    index: int


PacketSink = Callable[[av.Packet], None]


class VideoFileReader:
    """Decode the first video stream of a file as RGB frames, optionally a [start, end) segment.

    Every frame the file holds comes out, in presentation order, numbered and timed by
    :func:`vsr.video.index.index_video` (the same numbering the training reader uses).
    ``start``/``end`` are positions from the start of the file in seconds, as ffmpeg's
    ``-ss``/``-to`` and players count them: a stream whose first frame is at 1.075 s in a
    file that starts at 0 has no frame in ``[0, 0.5)``; one in a file that itself starts at
    1.075 s (video only) has its first 0.5 s there.

    Packets of the other streams (audio, subtitles) are handed to :attr:`on_packet` as the
    file is read, so a writer can copy them in the same single pass.

    Args:
        info: from :func:`vsr.video.metadata.probe`.
        start, end: segment in seconds from the file's start; None for the whole file.

    Raises:
        VideoError: the file cannot be read, or the segment holds no video frame (the
            message gives the span the video's frames cover).
    """

    def __init__(self, info: VideoInfo, start: float | None = None, end: float | None = None):
        self.info = info
        self.start = start
        self.end = end
        self.on_packet: PacketSink | None = None
        self.video_file = VideoFile(info.path, colour=info.colour)
        self.index = self.video_file.index
        self.frame_range = self.index.frames_in(start, end)
        if len(self.frame_range) == 0:
            last = self.index.num_frames - 1
            raise VideoError(
                f"{info.path}: no frames in [{start or 0:g}, "
                f"{'end' if end is None else f'{end:g}'}) s from the start of the file; its "
                f"{self.index.num_frames} video frames lie at {self.index.position(0):.3f}-"
                f"{self.index.position(last):.3f} s"
            )
        # The container whose streams the writer copies (templates); decoding uses its own.
        self.container = open_input_container(info.path)
        self.passthrough_streams = [
            s for s in self.container.streams if s.type in ("audio", "subtitle", "attachment")
        ]
        self.warnings = 0
        # Stream index -> (dts, file position) of the last copied packet: a seek retried
        # from an earlier keyframe reads some packets again, which must not be copied twice.
        self._copied: dict[int, tuple[int, int]] = {}

    @property
    def offset_seconds(self) -> float:
        """Seconds subtracted from every timestamp on the stream clock: the file's start plus
        ``--start`` when a segment starts late, else 0 (the input's times are kept)."""
        if not self.start:
            return 0.0
        return self.index.start_time + self.start

    @property
    def total(self) -> int:
        """Exact number of frames this reader yields."""
        return len(self.frame_range)

    def _warn(self, message: str) -> None:
        self.warnings += 1
        if self.warnings <= _MAX_WARNINGS:
            log.warning("%s: %s", self.info.path.name, message)

    def _forward(self, packet: av.Packet) -> None:
        """Copy one audio/subtitle packet when it falls in the segment (and is new)."""
        if self.on_packet is None:
            return
        time = _packet_time(packet)
        if time is not None and not self._in_segment(time):
            return
        key = (packet.dts, packet.pos if packet.pos is not None else -1)
        last = self._copied.get(packet.stream.index)
        if last is not None and key <= last:
            return  # already copied before a seek was retried
        self._copied[packet.stream.index] = key
        self.on_packet(packet)

    @property
    def keyframes(self) -> list[int]:
        """Positions of the keyframes among the frames this reader yields."""
        span = self.frame_range
        return [k - span.start for k in self.index.keyframes if k in span]

    def frames(self, first: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Yield the frames in presentation order with their (shifted) timestamps.

        Args:
            first, stop: only frames ``first <= index < stop`` of the ones this reader
                covers (a segment of a job); other streams' packets go to
                :attr:`on_packet` only when it is set.
        """
        streams = []
        if self.on_packet is not None:
            streams = [s for s in self.passthrough_streams if s.type != "attachment"]
        span = self.frame_range[first:stop]
        for i, frame in self.video_file.frames(
            span.start, span.stop, streams=streams,
            on_packet=self._forward, until=self._stop_time(), warn=self._warn,
        ):
            if frame.is_corrupt:
                self._warn(f"decoder reported a damaged frame at pts {frame.pts}")
            index = i - self.frame_range.start
            yield Frame(frame_to_rgb(frame, self.info.colour), self.frame_pts(index), index)
        if self.warnings > _MAX_WARNINGS:
            log.warning("%s: %d decode warnings in total", self.info.path.name, self.warnings)

    def frame_pts(self, index: int) -> int:
        """Timestamp of frame ``index`` of this reader, in the input's time base, shifted by
        :attr:`offset_seconds`: what :meth:`frames` gives it."""
        offset_pts = round(self.offset_seconds / self.info.time_base)
        tb_ratio = self.index.time_base / self.info.time_base
        return round(self.index.pts[self.frame_range[index]] * tb_ratio) - offset_pts

    def passthrough_packets(self) -> Iterator[av.Packet]:
        """The other streams' packets within the segment, in file order, with no video
        decoded: what a single pass hands to :attr:`on_packet` (the join of a job)."""
        streams = [s for s in self.passthrough_streams if s.type != "attachment"]
        if not streams:
            return
        stop = self._stop_time()
        for packet in self.container.demux(streams):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            time = _packet_time(packet)
            if time is not None and stop is not None and time > stop:
                break
            if time is None or self._in_segment(time):
                yield packet

    def _stop_time(self) -> float | None:
        """Stream time after which no packet of the segment can come (None: end of file)."""
        if self.end is None:
            return None
        return self.index.start_time + self.end + _TAIL_MARGIN_S

    def _in_segment(self, time: float) -> bool:
        base = self.index.start_time
        if self.start is not None and time < base + self.start - 1e-6:
            return False
        return not (self.end is not None and time >= base + self.end - 1e-6)

    def close(self) -> None:
        self.video_file.close()
        self.container.close()


def _packet_time(packet: av.Packet) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    if ts is None or packet.time_base is None:
        return None
    return float(ts * packet.time_base)


class FrameFolderReader:
    """Read a folder of numbered image frames (PNG, JPEG, ...) as RGB frames.

    Timestamps are frame indices at ``info.rate`` (``--fps``, default 25); ``start`` and
    ``end`` select by those timestamps.
    """

    def __init__(self, info: VideoInfo, start: float | None = None, end: float | None = None):
        self.info = info
        self.files = list_images(info.path)
        first = math.ceil((start or 0.0) * float(info.rate) - 1e-6)
        last = len(self.files) if end is None else math.ceil(end * float(info.rate) - 1e-6)
        self.files = self.files[first:last]
        self.start = start
        # Frame timestamps are indices counted from the first kept frame: already shifted.
        self.offset_seconds = 0.0
        self.on_packet: PacketSink | None = None
        self.passthrough_streams: list = []
        self.container = None  # no file: no chapters or file metadata
        self.warnings = 0

    @property
    def total(self) -> int:
        return len(self.files)

    def frame_pts(self, index: int) -> int:
        return index

    def passthrough_packets(self) -> Iterator[av.Packet]:
        return iter(())

    keyframes: list[int] = []  # every frame is read on its own

    def frames(self, first: int = 0, stop: int | None = None) -> Iterator[Frame]:
        for index, file in enumerate(self.files[first:stop], start=first):
            image = read_image(file)
            if image.shape[:2] != (self.info.height, self.info.width):
                raise UnreadableClipError(
                    f"{file} is {image.shape[1]}x{image.shape[0]}, but the first frame is "
                    f"{self.info.width}x{self.info.height}; all frames must have one size"
                )
            yield Frame(image, index, index)

    def close(self) -> None:
        pass


def open_reader(
    path: str | Path,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
) -> VideoFileReader | FrameFolderReader:
    """Probe ``path`` and open the matching reader (video file or folder of frames)."""
    if start is not None and start < 0:
        raise VideoError(f"--start must be >= 0 seconds, got {start}")
    if start is not None and end is not None and end <= start:
        raise VideoError(f"--end ({end}) must be after --start ({start})")
    info = probe(path, fps=fps)
    if info.is_folder:
        return FrameFolderReader(info, start, end)
    return VideoFileReader(info, start, end)
