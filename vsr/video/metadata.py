"""What the upscaler needs to know about an input before it starts: size, timing, metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from vsr.video.colour import ColourInfo, resolve_colour
from vsr.video.errors import ClipNotFoundError, UnreadableClipError
from vsr.video.files import IMAGE_SUFFIXES, list_images, read_image


@dataclass
class VideoInfo:
    """Description of an input (a video file or a folder of frames).

    Attributes:
        path: the input.
        width, height: frame size in pixels (as stored, before any display rotation).
        pix_fmt: decoder pixel format, e.g. ``yuv420p``, ``yuv444p``, ``yuv420p10le``.
        time_base: unit of the frames' ``pts``.
        rate: nominal frame rate (average rate; for variable frame rate only a summary).
        frames: number of frames from the header, or None when the header does not say.
        duration: seconds, or None.
        rotation: display rotation in degrees, counter-clockwise (metadata only).
        sample_aspect_ratio: pixel aspect ratio, or None when square / unknown.
        colour: colour matrix, range, primaries and transfer used for conversion.
        codec: decoder name.
        is_folder: True for a folder of frames.
    """

    path: Path
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    rate: Fraction
    frames: int | None
    duration: float | None
    rotation: int = 0
    sample_aspect_ratio: Fraction | None = None
    colour: ColourInfo = field(default_factory=ColourInfo)
    codec: str = ""
    is_folder: bool = False

    def estimated_frames(self, start: float | None = None, end: float | None = None) -> int | None:
        """Frame count for the [start, end) segment: exact from the header when untrimmed,
        otherwise estimated from the duration and rate; None when unknown."""
        if start is None and end is None and self.frames:
            return self.frames
        if self.duration is None and end is None:
            return None
        stop = end if end is not None else self.duration
        if self.duration is not None:
            stop = min(stop, self.duration)
        span = stop - (start or 0.0)
        return max(int(round(span * float(self.rate))), 0)


def open_input_container(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV, turning FFmpeg's errors into one clear :class:`VideoError`."""
    if not path.exists():
        raise ClipNotFoundError(f"input not found: {path}")
    try:
        container = av.open(str(path), "r")
    except av.FFmpegError as exc:
        raise UnreadableClipError(
            f"{path} is not a video file FFmpeg can read ({exc.strerror or exc}); "
            "pass a video file or a folder of frames"
        ) from None
    if not container.streams.video:
        container.close()
        raise UnreadableClipError(
            f"{path} has no video stream; pass a video file or a folder of frames"
        )
    stream = container.streams.video[0]
    if stream.codec_context is None:
        container.close()
        raise UnreadableClipError(
            f"{path}: unsupported video codec (no decoder in this FFmpeg build for stream 0)"
        )
    return container


def probe(path: str | Path, fps: float | None = None) -> VideoInfo:
    """Read the header of a video file or the first frame of a folder of frames.

    Args:
        path: a video file or a folder of image frames.
        fps: frame rate for a folder of frames (default 25); ignored for video files.

    Raises:
        VideoError: missing input, unreadable file, no video stream, empty folder.
    """
    path = Path(path)
    if path.is_dir():
        return _probe_folder(path, fps)
    container = open_input_container(path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        # The display matrix and the true colour tags are attached to decoded frames, so
        # decode the first one (a cheap look at the start of the file).
        rotation = 0
        first = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    first = frame
                    break
                if first is not None:
                    break
        except av.FFmpegError:
            first = None
        matrix, crange = ctx.colorspace, ctx.color_range
        primaries, trc = ctx.color_primaries, ctx.color_trc
        pix_fmt = ctx.pix_fmt or "yuv420p"
        if first is not None:
            rotation = int(round(first.rotation or 0))
            matrix = first.colorspace if first.colorspace not in (None, 2) else matrix
            crange = first.color_range or crange
            pix_fmt = first.format.name
        sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
        if sar is not None and (sar == 1 or sar <= 0):
            sar = None
        return VideoInfo(
            path=path,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=pix_fmt,
            time_base=stream.time_base or Fraction(1, int(rate)),
            rate=Fraction(rate),
            frames=stream.frames or None,
            duration=duration,
            rotation=rotation,
            sample_aspect_ratio=sar,
            colour=resolve_colour(matrix, crange, primaries, trc, ctx.width, ctx.height, pix_fmt),
            codec=ctx.name,
        )
    finally:
        container.close()


def _probe_folder(path: Path, fps: float | None) -> VideoInfo:
    files = list_images(path)
    if not files:
        raise ClipNotFoundError(
            f"{path} holds no image frames (expected {', '.join(IMAGE_SUFFIXES)} files)"
        )
    first = read_image(files[0])
    rate = Fraction(fps or 25).limit_denominator(1001 * 1000)
    return VideoInfo(
        path=path,
        width=first.shape[1],
        height=first.shape[0],
        pix_fmt="rgb24",
        time_base=1 / rate,
        rate=rate,
        frames=len(files),
        duration=len(files) / float(rate),
        is_folder=True,
    )
