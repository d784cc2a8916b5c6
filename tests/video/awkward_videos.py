"""Tiny generated videos with the timing cases users' files have (PyAV, 64x48, < 0.1 s each).

Every frame carries a distinct pattern, so a frame can be recognised after decoding; each
generator returns the file and the presentation times (seconds, from the start of the file)
the frames were written with, which the readers must reproduce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

W, H = 64, 48
FRAMES = 24
RATE = 24


@dataclass
class Awkward:
    """A generated file: ``times[i]`` is where frame ``i`` was placed (file positions, s)."""

    path: Path
    times: list[float]
    has_audio: bool
    note: str


def pattern(i: int) -> np.ndarray:
    """A textured frame unlike every other index (gradients moving with ``i``, a marker)."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack(
        [(x * 4 + i * 9) % 256, (y * 5 + i * 5) % 256, ((x + y) * 3 + i * 13) % 256], -1
    )
    img[:16, :16] = (i * 37) % 200 + 30  # a flat marker block, far apart between indices
    return img.astype(np.uint8)


def _video_stream(container, x264: dict[str, str], rate: int = RATE):
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    stream.options = {"preset": "fast", "crf": "12", **x264}
    return stream


def _audio_stream(container, codec: str):
    stream = container.add_stream(codec, rate=48000, layout="mono")
    stream.format = "s16" if codec.startswith("pcm") else "fltp"
    return stream


def _mux_audio(container, stream, seconds: float, start: float = 0.0) -> None:
    """A 440 Hz tone from ``start`` for ``seconds``."""
    rate, samples, fmt = 48000, 1024, stream.format.name
    offset = round(start * rate)
    for k in range(int(seconds * rate) // samples):
        t = (np.arange(samples) + k * samples) / rate
        tone = 0.2 * np.sin(2 * np.pi * 440 * t)
        data = (tone * 32767).astype(np.int16) if fmt == "s16" else tone.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(data[None], format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = offset + k * samples
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def _encode(
    path: Path,
    fmt: str,
    x264: dict[str, str],
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    rewrite: Callable[[int, av.Packet], None] | None = None,
    audio: str | None = None,
    audio_start: float = 0.0,
) -> None:
    with av.open(str(path), "w", format=fmt) as container:
        stream = _video_stream(container, x264)
        sound = _audio_stream(container, audio) if audio else None  # streams before muxing
        if time_base is not None:
            stream.codec_context.time_base = time_base
        packets = []
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(pattern(i), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            packets += stream.encode(frame)
        packets += stream.encode()
        for k, packet in enumerate(packets):
            if rewrite is not None:
                rewrite(k, packet)
            container.mux(packet)
        if sound is not None:
            # Audio outlasts the video by 2 s: all of it must be kept (not cut at the video).
            _mux_audio(container, sound, FRAMES / RATE + 2.0, audio_start)


BFRAMES = {"bf": "3", "g": "8", "keyint_min": "8"}


def avi_bframes(folder: Path) -> Awkward:
    """H.264 with 3 B-frames in AVI: packet timestamps in decode order, so the decoded
    frames' timestamps are out of order (the 'sorted' rule). libavformat stamps the first
    frame one frame after the file's start (the decoder's reordering delay)."""
    path = folder / "bframes.avi"
    _encode(path, "avi", BFRAMES, audio="pcm_s16le")
    return Awkward(path, [(i + 1) / RATE for i in range(FRAMES)], True, "B-frames in AVI")


def late_start(folder: Path) -> Awkward:
    """Video only, first frame at 1.0 s (an MP4 edit list with an empty edit)."""
    path = folder / "late.mp4"
    tb = Fraction(1, RATE)
    _encode(path, "mp4", {"bf": "2"}, pts=[RATE + i for i in range(FRAMES)], time_base=tb)
    # The file itself starts at 1 s too (no other stream starts earlier): positions from 0.
    return Awkward(path, [i / RATE for i in range(FRAMES)], False, "video-only, starts at 1 s")


def late_video_with_audio(folder: Path) -> Awkward:
    """Audio from 0 s, video from 1.0 s: the file starts at 0, its video at 1 s."""
    path = folder / "late_av.mp4"
    tb = Fraction(1, RATE)
    _encode(path, "mp4", {"bf": "2"}, pts=[RATE + i for i in range(FRAMES)], time_base=tb,
            audio="aac")
    return Awkward(path, [1.0 + i / RATE for i in range(FRAMES)], True, "audio at 0, video at 1 s")


def edit_list(folder: Path) -> Awkward:
    """MP4 with B-frames: an edit list hides the negative first decode timestamp."""
    path = folder / "editlist.mp4"
    _encode(path, "mp4", BFRAMES, audio="aac")
    return Awkward(path, [i / RATE for i in range(FRAMES)], True, "edit list, dts < 0")


def duplicate_timestamps(folder: Path) -> Awkward:
    """Matroska where frame 5 carries frame 4's timestamp (a broken muxer): 'rate' rule."""
    path = folder / "duplicate.mkv"

    def rewrite(k: int, packet: av.Packet) -> None:
        if k == 5:
            packet.pts = packet.dts = round(4 / RATE / packet.time_base)

    _encode(path, "matroska", {"bf": "0"}, rewrite=rewrite, audio="aac")
    return Awkward(path, [i / RATE for i in range(FRAMES)], True, "a repeated timestamp")


#: Gaps of the variable-frame-rate file, in 1/RATE units (1, 2 and 3 frame gaps).
VFR_TICKS = [0, 1, 2, 4, 5, 8, 9, 10, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 26, 27, 28, 29,
             31, 33]


def variable_rate(folder: Path) -> Awkward:
    """Matroska with gaps of one, two and three frames (timestamps must be kept)."""
    path = folder / "vfr.mkv"

    def rewrite(k: int, packet: av.Packet) -> None:
        packet.pts = packet.dts = round(VFR_TICKS[k] / RATE / packet.time_base)

    _encode(path, "matroska", {"bf": "0"}, rewrite=rewrite, audio="aac")
    return Awkward(path, [t / RATE for t in VFR_TICKS], True, "variable frame rate")


def open_gop(folder: Path) -> Awkward:
    """Open GOPs: B-frames after each keyframe (in decode order) show before it and
    reference the previous GOP; after a seek they come out damaged."""
    path = folder / "opengop.mkv"
    params = "open-gop=1:keyint=8:min-keyint=8:scenecut=0:bframes=3:b-adapt=0:b-pyramid=none"
    _encode(path, "matroska", {"x264-params": params}, audio="aac")
    return Awkward(path, [i / RATE for i in range(FRAMES)], True, "open GOP")


def open_gop_mp4(folder: Path) -> Awkward:
    """Open GOPs in MP4, whose seek index counts in decode time: a seek for a leading
    picture lands on the keyframe after it."""
    path = folder / "opengop.mp4"
    params = "open-gop=1:keyint=8:min-keyint=8:scenecut=0:bframes=3:b-adapt=0:b-pyramid=none"
    _encode(path, "mp4", {"x264-params": params}, audio="aac")
    return Awkward(path, [i / RATE for i in range(FRAMES)], True, "open GOP, MP4")


def raw_h264(folder: Path) -> Awkward:
    """A raw H.264 stream: no timestamps at all ('rate' rule at the guessed 25 fps)."""
    path = folder / "raw.h264"
    _encode(path, "h264", BFRAMES)
    return Awkward(path, [i / 25 for i in range(FRAMES)], False, "no timestamps")


GENERATORS: dict[str, Callable[[Path], Awkward]] = {
    "avi_bframes": avi_bframes,
    "late_start": late_start,
    "late_video_with_audio": late_video_with_audio,
    "edit_list": edit_list,
    "duplicate_timestamps": duplicate_timestamps,
    "variable_rate": variable_rate,
    "open_gop": open_gop,
    "open_gop_mp4": open_gop_mp4,
    "raw_h264": raw_h264,
}
