"""Colour metadata and the YUV <-> RGB conversions that must use the stream's own matrix.

FFmpeg's default conversion (what ``frame.to_ndarray(format="rgb24")`` does on an untagged
frame) assumes BT.601, which shifts the colours of HD video that was encoded with BT.709.
Here the matrix and range are resolved once per stream and passed explicitly to swscale in
both directions, and the output stream is tagged with exactly what was used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange, Colorspace

# AVColorSpace values (libavutil/pixfmt.h) that matter here.
AVCOL_SPC_RGB = 0
AVCOL_SPC_BT709 = 1
AVCOL_SPC_UNSPECIFIED = 2
AVCOL_SPC_BT470BG = 5
AVCOL_SPC_SMPTE170M = 6
AVCOL_SPC_SMPTE240M = 7
AVCOL_SPC_BT2020_NCL = 9
AVCOL_SPC_BT2020_CL = 10
AVCOL_SPC_FCC = 4

# AVColorRange values.
AVCOL_RANGE_UNSPECIFIED = 0
AVCOL_RANGE_MPEG = 1  # limited ("tv") range: Y in 16..235
AVCOL_RANGE_JPEG = 2  # full ("pc") range

# swscale only knows these coefficient sets; map every AVColorSpace onto one of them.
_SWS_MATRIX = {
    AVCOL_SPC_BT709: Colorspace.ITU709,
    AVCOL_SPC_FCC: Colorspace.FCC,
    AVCOL_SPC_BT470BG: Colorspace.ITU601,
    AVCOL_SPC_SMPTE170M: Colorspace.ITU601,
    AVCOL_SPC_SMPTE240M: Colorspace.SMPTE240M,
    AVCOL_SPC_BT2020_NCL: Colorspace.BT2020,
    AVCOL_SPC_BT2020_CL: Colorspace.BT2020,
}

MATRIX_NAMES = {
    AVCOL_SPC_RGB: "rgb",
    AVCOL_SPC_BT709: "bt709",
    AVCOL_SPC_UNSPECIFIED: "unspecified",
    AVCOL_SPC_FCC: "fcc",
    AVCOL_SPC_BT470BG: "bt470bg",
    AVCOL_SPC_SMPTE170M: "smpte170m",
    AVCOL_SPC_SMPTE240M: "smpte240m",
    AVCOL_SPC_BT2020_NCL: "bt2020nc",
    AVCOL_SPC_BT2020_CL: "bt2020c",
}


@dataclass(frozen=True)
class ColourInfo:
    """Colour description of a video stream (FFmpeg's enum values).

    Attributes:
        matrix: AVColorSpace actually used for YUV <-> RGB (never "unspecified").
        range: AVColorRange actually used (MPEG or JPEG, never "unspecified").
        primaries: AVColorPrimaries as tagged in the input (2 = unspecified is kept as is).
        trc: AVColorTransferCharacteristic as tagged in the input.
        guessed: True when the input did not tag its matrix and :attr:`matrix` is a guess.
    """

    matrix: int = AVCOL_SPC_BT709
    range: int = AVCOL_RANGE_MPEG
    primaries: int = 2
    trc: int = 2
    guessed: bool = False

    @property
    def sws_matrix(self) -> Colorspace:
        """The swscale coefficient set for :attr:`matrix`."""
        return _SWS_MATRIX.get(self.matrix, Colorspace.ITU709)

    @property
    def sws_range(self) -> ColorRange:
        return ColorRange.JPEG if self.range == AVCOL_RANGE_JPEG else ColorRange.MPEG

    def describe(self) -> str:
        name = MATRIX_NAMES.get(self.matrix, str(self.matrix))
        rng = "full" if self.range == AVCOL_RANGE_JPEG else "limited"
        return f"{name}{' (guessed)' if self.guessed else ''}, {rng} range"


def resolve_colour(
    matrix: int,
    colour_range: int,
    primaries: int,
    trc: int,
    width: int,
    height: int,
    pix_fmt: str = "yuv420p",
) -> ColourInfo:
    """Fill in the matrix and range an untagged stream most likely uses.

    Untagged video follows the convention players use (mpv, browsers): BT.709 for HD
    (width >= 1280 or height > 576), BT.601 for SD. JPEG-style ``yuvj*`` formats are full
    range; everything else untagged is limited range.
    """
    guessed = matrix in (AVCOL_SPC_UNSPECIFIED, 3) or matrix not in _SWS_MATRIX
    if guessed:
        if width >= 1280 or height > 576:
            matrix = AVCOL_SPC_BT709
        else:
            matrix = AVCOL_SPC_BT470BG if height in (576, 288) else AVCOL_SPC_SMPTE170M
    if colour_range not in (AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG):
        colour_range = AVCOL_RANGE_JPEG if pix_fmt.startswith("yuvj") else AVCOL_RANGE_MPEG
    return ColourInfo(matrix, colour_range, primaries, trc, guessed)


#: Threads of every swscale conversion here: one. swscale's default, slice threads (one per
#: core), can deadlock a process forked after they ran: a DataLoader worker forked after the
#: main process had converted 720p frames hung in ``pthread_cond_destroy`` inside
#: ``sws_frame_setup`` on its first conversion. One thread converts a 4K frame in
#: milliseconds, next to seconds for the network.
SWSCALE_THREADS = 1

def frame_to_rgb(frame: VideoFrame, colour: ColourInfo):
    """Decode a frame of any pixel format to an (H, W, 3) uint8 RGB array using ``colour``.

    10-bit and 4:4:4 inputs go through swscale like the rest, which handles bit depth and
    chroma upsampling; only the matrix and range need to be given explicitly.
    """
    fmt = frame.format.name
    if fmt in ("rgb24",):
        return frame.to_ndarray()
    if fmt.startswith(("gbr", "rgb", "bgr", "gray", "pal")):
        # RGB-family and grey formats carry no YUV matrix.
        return frame.to_ndarray(format="rgb24", threads=SWSCALE_THREADS)
    # swscale's direct high-bit-depth -> rgb24 path is off by ~2 levels (it drops bits
    # before the matrix); going through 16-bit RGB and rounding here stays within ~1 level.
    deep = frame.format.components[0].bits > 8
    rgb = frame.reformat(
        format="rgb48le" if deep else "rgb24",
        src_colorspace=colour.sws_matrix,
        dst_colorspace=colour.sws_matrix,
        src_color_range=colour.sws_range,
        dst_color_range=ColorRange.JPEG,
        threads=SWSCALE_THREADS,
    ).to_ndarray()
    if deep:
        rgb = ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return rgb


def rgb_to_frame(rgb, pix_fmt: str, colour: ColourInfo) -> VideoFrame:
    """Encode an (H, W, 3) uint8 RGB array into a tagged frame of ``pix_fmt``."""
    frame = VideoFrame.from_ndarray(rgb, format="rgb24")
    if pix_fmt.startswith(("gbr", "rgb", "bgr")):
        return frame.reformat(format=pix_fmt, threads=SWSCALE_THREADS)
    out = frame.reformat(
        format=pix_fmt,
        src_colorspace=colour.sws_matrix,
        dst_colorspace=colour.sws_matrix,
        src_color_range=ColorRange.JPEG,
        dst_color_range=colour.sws_range,
        threads=SWSCALE_THREADS,
    )
    out.colorspace = colour.matrix
    out.color_range = colour.range
    out.color_primaries = colour.primaries
    out.color_trc = colour.trc
    return out
