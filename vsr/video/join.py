"""Joining the finished segments of a job into the output, without re-encoding them.

Every segment was encoded on its own (it starts with a keyframe, in the output's container,
with the same encoder settings and each frame at its final timestamp), so their packets are
copied one after another into the output; the input's audio, subtitles and attachments are
added exactly as a single pass adds them (:class:`vsr.video.writer.Passthrough`).
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import av

from vsr.video.errors import VideoError
from vsr.video.metadata import VideoInfo
from vsr.video.writer import Passthrough, close_quietly

log = logging.getLogger("vsr.video")


def join_videos(
    parts: list[Path], first_pts: list[int], destination: Path, container_format: str,
    info: VideoInfo, passthrough_streams: list, passthrough_packets: Iterator[av.Packet],
    offset_seconds: float = 0.0, source=None,
) -> None:
    """Write the video packets of ``parts``, in order, and the input's other streams.

    Args:
        parts: the segment files, in frame order.
        first_pts: the exact timestamp of each part's first frame (``info.time_base``).
        destination: the file to write.
        container_format: FFmpeg muxer name of ``destination``.
        info: the input's description (time base and rotation, as a single pass writes).
        passthrough_streams: the input's audio/subtitle/attachment streams to keep.
        passthrough_packets: their packets within the output's span, in file order.
        offset_seconds: the ``--start`` shift of the passthrough packets' times.
        source: the input container, whose chapters and file metadata are copied.
    """
    try:
        output = av.open(str(destination), "w", format=container_format)
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot write {destination}: {exc}") from None
    try:
        with av.open(str(parts[0])) as first:
            video = output.add_stream_from_template(first.streams.video[0])
        video.time_base = info.time_base  # as the encoding writer sets it
        if info.rotation:
            video.set_display_rotation(info.rotation)
        passthrough = Passthrough(output, destination, offset_seconds)
        passthrough.add_streams(passthrough_streams)
        if source is not None:
            passthrough.add_file_info(source)
        # Both sources are in time order; the muxer interleaves what is close together.
        timed_video = ((_time(p), 0, p) for p in _video_packets(parts, first_pts, info))
        timed_other = ((_time(p) - offset_seconds, 1, p) for p in passthrough_packets)
        for _, source, packet in heapq.merge(timed_video, timed_other, key=lambda t: t[:2]):
            if source == 0:
                packet.stream = video
                output.mux(packet)
            else:
                passthrough.mux(packet)
        passthrough.flush()
        output.close()
    except av.FFmpegError as exc:
        close_quietly(output)
        raise VideoError(f"joining the segments into {destination.name} failed: {exc}") from None
    except BaseException:
        close_quietly(output)
        raise


def _video_packets(
    parts: list[Path], first_pts: list[int], info: VideoInfo
) -> Iterator[av.Packet]:
    """The video packets of every part, at their exact times, decode times increasing."""
    last_dts = None
    for part, exact in zip(parts, first_pts, strict=True):
        with av.open(str(part)) as source:
            stream = source.streams.video[0]
            shift = None
            for packet in source.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                if shift is None:
                    # A part's first packet is its first frame (a keyframe). MP4 stores a
                    # part that starts late with an edit list, whose rounding can move the
                    # whole part by a tick: put it back where the frame belongs.
                    shift = round(exact * info.time_base / stream.time_base) - packet.pts
                packet.pts += shift
                # Decode times: Matroska stores none for some packets, and a part's first
                # ones (its first frames less the encoder's reordering delay) may not follow
                # the previous part's last: kept increasing and never after the frame.
                dts = None if packet.dts is None else packet.dts + shift
                if dts is None or (last_dts is not None and dts <= last_dts):
                    dts = min(packet.pts, last_dts + 1) if last_dts is not None else packet.pts
                packet.dts = last_dts = dts
                yield packet


def _time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else 0.0


def join_frame_folders(parts: list[Path], destination: Path) -> None:
    """Move the PNG frames of ``parts`` (already numbered for the whole output) into one."""
    destination.mkdir(exist_ok=True)
    for part in parts:
        for frame in sorted(part.iterdir()):
            os.replace(frame, destination / frame.name)
