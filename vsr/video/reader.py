"""Streaming readers: decode one frame at a time so memory does not grow with length."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from vsr.video.colour import frame_to_rgb
from vsr.video.errors import VideoError
from vsr.video.metadata import VideoInfo, list_frame_files, open_input_container, probe

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

    Packets of the other streams (audio, subtitles) are handed to :attr:`on_packet` as the
    file is read, so a writer can copy them in the same single pass.

    Args:
        info: from :func:`vsr.video.metadata.probe`.
        start, end: segment in seconds (by timestamps); None for the whole file.
    """

    def __init__(self, info: VideoInfo, start: float | None = None, end: float | None = None):
        self.info = info
        self.start = start
        self.end = end
        self.on_packet: PacketSink | None = None
        self.container = open_input_container(info.path)
        self.video = self.container.streams.video[0]
        # Frame-level threading decodes several frames at once: a large speed-up on
        # multi-core machines at the cost of a few frames of latency.
        self.video.thread_type = "AUTO"
        self.passthrough_streams = [
            s for s in self.container.streams if s.type in ("audio", "subtitle", "attachment")
        ]
        self.warnings = 0

    @property
    def offset_seconds(self) -> float:
        """Seconds subtracted from every timestamp (the ``--start`` value)."""
        return self.start or 0.0

    def _warn(self, message: str) -> None:
        self.warnings += 1
        if self.warnings <= _MAX_WARNINGS:
            log.warning("%s: %s", self.info.path.name, message)

    def frames(self) -> Iterator[Frame]:
        """Yield the frames in presentation order with their (shifted) timestamps."""
        tb = self.info.time_base
        offset_pts = round(self.offset_seconds / tb)
        if self.start:
            # Land on the keyframe before start; frames before it are decoded and dropped.
            self.container.seek(int(self.start * av.time_base), backward=True)
        streams = [self.video, *[s for s in self.passthrough_streams if s.type != "attachment"]]
        index = 0
        last_pts: int | None = None
        step = max(round(1 / (self.info.rate * tb)), 1)  # one nominal frame, in pts units
        video_done = False
        try:
            for packet in self.container.demux(streams):
                time = _packet_time(packet)
                if packet.stream.index != self.video.index:
                    if time is None or self._in_segment(time, packet):
                        if packet.dts is not None and self.on_packet is not None:
                            self.on_packet(packet)
                    if video_done and time is not None and time > self._stop_time():
                        break
                    continue
                if video_done:
                    if time is not None and time > self._stop_time():
                        break
                    continue
                if packet.is_corrupt:
                    self._warn(f"skipped a corrupt packet at {time or 0:.3f}s")
                    continue
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    self._warn(f"skipped an undecodable packet at {time or 0:.3f}s ({exc})")
                    continue
                for frame in decoded:
                    if frame.is_corrupt:
                        self._warn(f"decoder reported a damaged frame at pts {frame.pts}")
                    pts = frame.pts
                    if pts is None:  # keep timing from the previous frame and the rate
                        pts = 0 if last_pts is None else last_pts + step
                    if last_pts is not None and pts <= last_pts:
                        self._warn(f"frame with non-increasing pts {pts} after {last_pts}")
                        continue
                    seconds = float(pts * tb)
                    if self.start is not None and seconds < self.start - 1e-6:
                        continue
                    if self.end is not None and seconds >= self.end - 1e-6:
                        video_done = True
                        break
                    last_pts = pts
                    yield Frame(frame_to_rgb(frame, self.info.colour), pts - offset_pts, index)
                    index += 1
        except av.FFmpegError as exc:
            # A broken container tail: keep what was decoded, as for corrupt packets.
            self._warn(f"stopped reading at a damaged part of the file ({exc})")
        if self.warnings > _MAX_WARNINGS:
            log.warning("%s: %d decode warnings in total", self.info.path.name, self.warnings)

    def _stop_time(self) -> float:
        return (self.end if self.end is not None else math.inf) + _TAIL_MARGIN_S

    def _in_segment(self, time: float, packet: av.Packet) -> bool:
        if self.start is not None and time < self.start - 1e-6:
            return False
        return not (self.end is not None and time >= self.end - 1e-6)

    def close(self) -> None:
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
        self.files = list_frame_files(info.path)
        first = math.ceil((start or 0.0) * float(info.rate) - 1e-6)
        last = len(self.files) if end is None else math.ceil(end * float(info.rate) - 1e-6)
        self.files = self.files[first:last]
        self.start = start
        # Frame timestamps are indices counted from the first kept frame: already shifted.
        self.offset_seconds = 0.0
        self.on_packet: PacketSink | None = None
        self.passthrough_streams: list = []
        self.warnings = 0

    def frames(self) -> Iterator[Frame]:
        import cv2

        for index, file in enumerate(self.files):
            image = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise VideoError(f"{file} is not an image OpenCV can read")
            if image.dtype == np.uint16:  # 16-bit PNG: round to 8 bits
                image = ((image.astype(np.float32) / 257.0) + 0.5).astype(np.uint8)
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
            elif image.shape[2] == 4:
                image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
            else:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            if image.shape[:2] != (self.info.height, self.info.width):
                raise VideoError(
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
