"""Streaming writers: encode frames as they come, copy audio/subtitles, keep metadata."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vsr.video.colour import ColourInfo, rgb_to_frame
from vsr.video.errors import VideoError
from vsr.video.metadata import VideoInfo

log = logging.getLogger("vsr.video")

#: Output container chosen from the file extension.
#: Frames larger than 4K UHD get a shorter encoder look-ahead (see VideoFileWriter).
_UHD_PIXELS = 3840 * 2160
_LARGE_FRAME_LOOKAHEAD = 10

CONTAINER_FORMATS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
#: Audio codec used when the input's audio cannot be copied into the output container.
_REENCODE_AUDIO = {"webm": "libopus"}
_DEFAULT_AUDIO = "aac"
#: Stream metadata worth carrying over (the rest is muxer statistics that would be wrong).
_KEPT_TAGS = ("language", "title", "handler_name")
#: File metadata that describes the muxer or the file's format, not the content: not copied.
_MUXER_TAGS = ("encoder", "major_brand", "minor_version", "compatible_brands", "duration")
#: Encoders that take a constant-quality --crf option.
_CRF_CODECS = ("libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1")


def default_codec(path: Path) -> str:
    """libvpx-vp9 for .webm (the only video codecs WebM holds are VP8/VP9/AV1), else libx264."""
    return "libvpx-vp9" if path.suffix.lower() == ".webm" else "libx264"


def find_encoder(name: str) -> av.codec.Codec:
    try:
        return av.codec.Codec(name, "w")
    except (av.codec.codec.UnknownCodecError, ValueError):
        raise VideoError(
            f"unsupported codec {name!r}: this FFmpeg build has no such video encoder "
            "(try libx264, libx265, libvpx-vp9 or ffv1)"
        ) from None


def choose_pix_fmt(codec: av.codec.Codec, input_pix_fmt: str, requested: str | None) -> str:
    """yuv420p unless the input's chroma (4:4:4, 4:2:2) can be kept by the codec.

    Frames are processed as 8-bit RGB, so the output is 8-bit; ``requested`` overrides.
    """
    formats = [f.name for f in codec.video_formats or []]
    if requested:
        if formats and requested not in formats:
            raise VideoError(
                f"codec {codec.name} cannot encode pixel format {requested!r} "
                f"(it supports {', '.join(formats)})"
            )
        return requested
    chroma = "444" if "444" in input_pix_fmt else "422" if "422" in input_pix_fmt else "420"
    for candidate in (f"yuv{chroma}p", "yuv420p"):
        if not formats or candidate in formats:
            return candidate
    return formats[0]


class VideoFileWriter:
    """Encode RGB frames into a video file and copy (or re-encode) the input's other streams.

    Args:
        path: file to write (the temporary name beside the final output).
        container_format: FFmpeg muxer name (``mp4``, ``matroska``, ``mov``, ``webm``).
        info: the input's description; its time base, rate, rotation, aspect ratio and
            colour are kept.
        width, height: output frame size (even).
        codec: encoder name; crf: constant-quality value where the encoder has one.
        offset_seconds: subtracted from every copied packet (the ``--start`` value), the
            same shift the reader applies to video timestamps.
        pix_fmt: output pixel format, or None to choose one (see :func:`choose_pix_fmt`).
    """

    def __init__(
        self, path: Path, container_format: str, info: VideoInfo, width: int, height: int,
        codec: str, crf: int = 18, offset_seconds: float = 0.0, pix_fmt: str | None = None,
    ):
        encoder = find_encoder(codec)
        self.path = path
        self.info = info
        self.offset_seconds = offset_seconds
        self.colour: ColourInfo = info.colour
        try:
            self.container = av.open(str(path), "w", format=container_format)
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(f"cannot write {path}: {exc}") from None
        if encoder.canonical_name not in self.container.supported_codecs:
            self.container.close()
            raise VideoError(
                f"codec {codec} ({encoder.canonical_name}) cannot be stored in a "
                f"{container_format} file; pick another --codec or output extension"
            )
        self.pix_fmt = choose_pix_fmt(encoder, info.pix_fmt, pix_fmt)
        stream = self.container.add_stream(codec, rate=info.rate)
        stream.width, stream.height, stream.pix_fmt = width, height, self.pix_fmt
        # Encode in the input's time base so every frame keeps its exact timestamp
        # (variable frame rate stays variable; the muxer rescales if it must).
        stream.codec_context.time_base = info.time_base
        stream.time_base = info.time_base
        stream.thread_type = "AUTO"
        options = {}
        if codec in _CRF_CODECS:
            options["crf"] = str(crf)
        if codec == "libvpx-vp9":
            options.update({"b": "0", "row-mt": "1", "cpu-used": "4"})
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
        if width * height > _UHD_PIXELS and codec in ("libx264", "libx265"):
            # The rate control's look-ahead holds ~40 frames (x264 and x265 presets): 2.5 GB
            # at 8K. Ten frames keep most of its benefit at a quarter of the memory.
            if codec == "libx264":
                options["rc-lookahead"] = str(_LARGE_FRAME_LOOKAHEAD)
            else:
                options["x265-params"] += f":rc-lookahead={_LARGE_FRAME_LOOKAHEAD}"
        stream.options = options
        ctx = stream.codec_context
        if not self.pix_fmt.startswith(("gbr", "rgb", "bgr")):
            ctx.colorspace, ctx.color_range = self.colour.matrix, self.colour.range
            ctx.color_primaries, ctx.color_trc = self.colour.primaries, self.colour.trc
        if info.sample_aspect_ratio:
            # Both axes grow by the same factor, so the pixel shape does not change.
            ctx.sample_aspect_ratio = info.sample_aspect_ratio
        if info.rotation:
            # Rotation stays metadata (the display matrix): pixels are not turned.
            stream.set_display_rotation(info.rotation)
        self.video = stream
        self.passthrough = Passthrough(self.container, path, offset_seconds)

    def add_passthrough(self, streams: list, source=None) -> None:
        """Copy (or re-encode) the input's audio, subtitle and attachment streams, and the
        chapters and metadata of its file (``source``, an input container)."""
        self.passthrough.add_streams(streams)
        if source is not None:
            self.passthrough.add_file_info(source)

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one (H, W, 3) uint8 RGB frame at ``pts`` (input time base, shifted)."""
        frame = rgb_to_frame(image, self.pix_fmt, self.colour)
        frame.pts = pts
        frame.time_base = self.info.time_base
        try:
            for packet in self.video.encode(frame):
                self.container.mux(packet)
        except av.FFmpegError as exc:
            raise VideoError(
                f"encoding {self.path.name} with {self.video.name} failed: {exc}"
            ) from None

    def mux_packet(self, packet: av.Packet) -> None:
        """Copy (or re-encode) one audio/subtitle packet from the input."""
        self.passthrough.mux(packet)

    def close(self) -> None:
        """Flush the encoders and write the trailer."""
        try:
            for packet in self.video.encode():
                self.container.mux(packet)
            self.passthrough.flush()
        except av.FFmpegError as exc:
            raise VideoError(f"finishing {self.path.name} failed: {exc}") from None
        finally:
            self.container.close()

    def abort(self) -> None:
        close_quietly(self.container)


def close_quietly(container) -> None:
    """Close a container whose file is deleted next (closing is best effort)."""
    try:
        container.close()
    except Exception:  # noqa: BLE001
        pass


class Passthrough:
    """The input's audio, subtitle and attachment streams in an output container.

    Copied when the container accepts the codec; audio is re-encoded otherwise (AAC, or
    Opus for WebM); subtitles and attachments the container cannot hold are dropped with a
    warning. Used by the encoding writer and by the join of a segmented job alike, so both
    produce the same streams.

    Args:
        container: the output container (before its header is written).
        path: the output file (for messages).
        offset_seconds: subtracted from every packet's time (the ``--start`` shift).
    """

    def __init__(self, container, path: Path, offset_seconds: float = 0.0):
        self.container = container
        self.path = path
        self.offset_seconds = offset_seconds
        self._map: dict[int, tuple[av.stream.Stream, _AudioReencoder | None]] = {}

    def add_streams(self, streams: list) -> None:
        """Create output streams for the input's ``streams``."""
        supported = self.container.supported_codecs
        for s in streams:
            name = s.codec_context.codec.canonical_name if s.codec_context else None
            try:
                if s.type == "attachment":
                    if self.container.format.name.startswith("matroska"):
                        self.container.add_stream_from_template(s)
                    continue
                if name in supported or (s.codec_context and s.codec_context.name in supported):
                    out = self.container.add_stream_from_template(s)
                    self._map[s.index] = (out, None)
                elif s.type == "audio":
                    codec = _REENCODE_AUDIO.get(self.container.format.name, _DEFAULT_AUDIO)
                    log.warning(
                        "audio stream %d (%s) cannot be copied into %s; re-encoding to %s",
                        s.index, name, self.path.suffix, codec,
                    )
                    reencoder = _AudioReencoder(self.container, s, codec, self.offset_seconds)
                    out = reencoder.out
                    self._map[s.index] = (out, reencoder)
                else:
                    log.warning(
                        "%s stream %d (%s) cannot be stored in a %s file; dropped",
                        s.type, s.index, name, self.path.suffix,
                    )
                    continue
            except (av.FFmpegError, ValueError) as exc:
                log.warning("%s stream %d (%s) dropped: %s", s.type, s.index, name, exc)
                continue
            for key in _KEPT_TAGS:
                if key in s.metadata:
                    out.metadata[key] = s.metadata[key]
            out.disposition = s.disposition

    def add_file_info(self, source) -> None:
        """Copy the input file's chapters (moved back by the ``--start`` shift; those that
        end before the output starts are dropped) and its descriptive metadata (title,
        artist, comment, ...; not what the muxer writes about itself)."""
        for key, value in source.metadata.items():
            if key.lower() not in _MUXER_TAGS:
                self.container.metadata[key] = value
        chapters = []
        for chapter in source.chapters():
            base = chapter["time_base"] or Fraction(1, 1000)
            shift = round(self.offset_seconds / base)
            start, end = chapter["start"] - shift, chapter["end"] - shift
            if end > 0:
                chapters.append({**chapter, "id": len(chapters) + 1, "start": max(start, 0),
                                 "end": end})
        if chapters:
            self.container.set_chapters(chapters)

    def mux(self, packet: av.Packet) -> None:
        """Copy (or re-encode) one packet of an input stream added here (others: ignored)."""
        target = self._map.get(packet.stream.index)
        if target is None:
            return
        out, reencoder = target
        if reencoder is not None:
            reencoder.feed(packet)
            return
        shift = round(self.offset_seconds / packet.time_base) if self.offset_seconds else 0
        if packet.pts is not None:
            packet.pts -= shift
        if packet.dts is not None:
            packet.dts -= shift
        packet.stream = out
        self.container.mux(packet)

    def flush(self) -> None:
        """Finish the re-encoded streams (before the container is closed)."""
        for _, reencoder in self._map.values():
            if reencoder is not None:
                reencoder.flush()


class _AudioReencoder:
    """Decode, resample and encode one audio stream the output container cannot copy."""

    def __init__(self, container, stream, codec: str, offset_seconds: float):
        encoder = av.codec.Codec(codec, "w")
        rates = encoder.audio_rates
        rate = stream.codec_context.sample_rate or 48000
        if rates and rate not in rates:
            rate = 48000 if 48000 in rates else max(rates)
        layout = stream.codec_context.layout.name if stream.codec_context.layout else "stereo"
        fmt = encoder.audio_formats[0].name if encoder.audio_formats else "fltp"
        self.out = container.add_stream(codec, rate=rate, layout=layout)
        self.out.format = fmt
        self.rate = rate
        self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
        self.container = container
        self.offset = offset_seconds
        self.next_pts: int | None = None

    def feed(self, packet: av.Packet) -> None:
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            log.warning("skipped an undecodable audio packet (%s)", exc)
            return
        for frame in frames:
            if self.next_pts is None and frame.time is not None:
                # Place the first sample where it was; count samples from there on so the
                # re-encoded audio neither drifts nor jitters.
                self.next_pts = max(round((frame.time - self.offset) * self.rate), 0)
            for out_frame in self.resampler.resample(frame):
                self._encode(out_frame)

    def _encode(self, frame) -> None:
        frame.pts = self.next_pts or 0
        frame.time_base = Fraction(1, self.rate)
        self.next_pts = frame.pts + frame.samples
        for packet in self.out.encode(frame):
            self.container.mux(packet)

    def flush(self) -> None:
        for out_frame in self.resampler.resample(None):
            self._encode(out_frame)
        for packet in self.out.encode(None):
            self.container.mux(packet)


class FrameFolderWriter:
    """Write frames as numbered PNG files (``00000000.png``, ...), the REDS naming.

    Args:
        path: the folder (created).
        first_index: number of the first frame (a segment of a longer job).
    """

    def __init__(self, path: Path, first_index: int = 0):
        self.path = path
        self.index = first_index
        self.path.mkdir(parents=False, exist_ok=True)

    def add_passthrough(self, streams: list, source=None) -> None:
        if any(s.type == "audio" for s in streams):
            log.warning("a folder of frames cannot hold audio; the audio is not kept")

    def write(self, image: np.ndarray, pts: int) -> None:
        import cv2

        file = self.path / f"{self.index:08d}.png"
        if not cv2.imwrite(str(file), np.ascontiguousarray(image[..., ::-1])):
            raise VideoError(f"cannot write {file}")
        self.index += 1

    def mux_packet(self, packet: av.Packet) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
