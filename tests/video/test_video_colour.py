"""Colour: the stream's own matrix is used for decoding and encoding (no BT.601/709 mix-up)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from av.video.frame import VideoFrame
from video_testdata import decode_reference, video, yuv_to_rgb_reference

from vsr.video import OpenCVBicubicProcessor, transcode
from vsr.video.colour import ColourInfo, frame_to_rgb, resolve_colour, rgb_to_frame
from vsr.video.reader import open_reader

# Saturated and mid colours: where BT.601 and BT.709 differ by up to ~30 levels.
PATCHES = np.array(
    [[220, 40, 40], [40, 200, 60], [50, 60, 210], [200, 180, 40], [128, 128, 128], [30, 160, 170]],
    dtype=np.uint8,
)


def _patch_clip(frames: int = 3) -> np.ndarray:
    """(T, 32, 96, 3): six flat 16x32 patches, wide enough that chroma subsampling is exact."""
    img = np.zeros((32, 96, 3), np.uint8)
    for i, colour in enumerate(PATCHES):
        img[:, i * 16 : (i + 1) * 16] = colour
    return np.stack([img] * frames)


def _write_clip(path, clip, colourspace: int, pix_fmt="yuv420p", codec="libx264"):
    """Write with PyAV directly (not our writer), tagged and converted with ``colourspace``."""
    colour = ColourInfo(matrix=colourspace, range=1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], pix_fmt
        stream.options = {"qp": "0"} if codec == "libx264" else {}
        stream.codec_context.colorspace = colourspace
        stream.codec_context.color_range = 1
        for i, img in enumerate(clip):
            frame = rgb_to_frame(img, pix_fmt, colour)
            frame.pts = i
            frame.time_base = Fraction(1, 25)
            for p in stream.encode(frame):
                container.mux(p)
        for p in stream.encode():
            container.mux(p)


def test_reformat_uses_given_matrix_against_formula():
    """Known Y'CbCr value -> RGB by the BT.709 and BT.601 formulas (hand-checked maths)."""
    frame = VideoFrame(16, 16, "yuv444p")
    for plane, value in zip(frame.planes, (150, 90, 200), strict=True):
        plane.update(np.full((plane.height, plane.line_size), value, np.uint8))
    for matrix, avcol in (("bt709", 1), ("bt601", 6)):
        got = frame_to_rgb(frame, ColourInfo(matrix=avcol, range=1))[0, 0].astype(float)
        want = yuv_to_rgb_reference(np.array(150), np.array(90), np.array(200), matrix)
        np.testing.assert_allclose(got, want, atol=1.0)
    # The two matrices really differ here, so the check above can fail.
    assert abs(int(frame_to_rgb(frame, ColourInfo(1, 1))[0, 0, 1]) -
               int(frame_to_rgb(frame, ColourInfo(6, 1))[0, 0, 1])) > 10


def test_untagged_guess():
    assert resolve_colour(2, 0, 2, 2, 1920, 1080).matrix == 1
    assert resolve_colour(2, 0, 2, 2, 720, 576).matrix == 5
    assert resolve_colour(2, 0, 2, 2, 320, 240).matrix == 6
    assert resolve_colour(6, 2, 2, 2, 1920, 1080).matrix == 6  # a tag is never overridden
    assert resolve_colour(2, 0, 2, 2, 320, 240, "yuvj420p").range == 2


@pytest.mark.parametrize("matrix", [1, 6])
def test_colour_round_trip_through_pipeline(tmp_path, matrix):
    """Known colours written with a tagged matrix survive decode -> upscale -> encode."""
    src = tmp_path / "src.mp4"
    _write_clip(src, _patch_clip(), matrix)
    out = tmp_path / "out.mkv"
    transcode(src, out, OpenCVBicubicProcessor(scale=2), crf=0)
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.colorspace == matrix
        assert stream.codec_context.color_range == 1
    reader = open_reader(out)
    frames = [f.image for f in reader.frames()]
    reader.close()
    assert len(frames) == 3
    # Two 8-bit limited-range round trips (source file, output file) cost up to ~2 levels
    # each; a BT.601/BT.709 mix-up costs 10-30 levels on these colours.
    wrong = ColourInfo(matrix=6 if matrix == 1 else 1, range=1)
    with av.open(str(out)) as c:
        mixed_up = frame_to_rgb(next(c.decode(video=0)), wrong)
    worst_mixed_up = 0.0
    for i, colour in enumerate(PATCHES):
        # Centre of each patch, away from the bicubic ringing at its edges.
        region = np.s_[16:48, i * 32 + 8 : i * 32 + 24]
        np.testing.assert_allclose(frames[1][region].reshape(-1, 3).mean(0), colour, atol=5)
        error = np.abs(mixed_up[region].reshape(-1, 3).mean(0) - colour).max()
        worst_mixed_up = max(worst_mixed_up, error)
    assert worst_mixed_up > 10


def test_ten_bit_input_decodes(tmp_path):
    """10-bit planes -> RGB compared with the BT.709 formula on the decoded 10-bit values."""
    src = tmp_path / "ten.mkv"
    _write_clip(src, _patch_clip(2), 1, pix_fmt="yuv420p10le")
    reader = open_reader(src)
    assert reader.info.pix_fmt == "yuv420p10le"
    frames = [f.image for f in reader.frames()]
    reader.close()
    with av.open(str(src)) as c:
        planes = next(c.decode(video=0)).to_ndarray()  # (3H/2, W) uint16, stacked planes
    h, w = 32, 96
    y = planes[:h] / 4.0  # 10-bit code values in 8-bit units
    u = planes[h : h + h // 4].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) / 4.0
    v = planes[h + h // 4 :].reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) / 4.0
    want = yuv_to_rgb_reference(y, u, v, "bt709")
    for i in range(len(PATCHES)):
        region = np.s_[4:28, i * 16 + 4 : i * 16 + 12]
        np.testing.assert_allclose(frames[0][region].astype(float), want[region], atol=1.5)


def test_444_input_matches_independent_decode():
    """imageio_cockatoo.mp4 is 4:4:4 and untagged 720p (BT.709 by convention)."""
    path = video("imageio_cockatoo.mp4")
    reader = open_reader(path, end=0.1)
    assert reader.info.pix_fmt == "yuv444p"
    ours = [f.image.astype(float) for f in reader.frames()]
    reader.close()
    reference = decode_reference(path, "bt709", limit=len(ours))
    assert len(ours) == 2
    for got, want in zip(ours, reference, strict=True):
        diff = np.abs(got - want)
        assert diff.mean() < 0.6 and np.percentile(diff, 99.9) <= 2.0
    # The check can fail: a BT.601 decode, or chroma treated as 4:2:0, is far off.
    with av.open(str(path)) as c:
        y, u, v = next(c.decode(video=0)).to_ndarray(format="yuv444p")
    wrong_matrix = yuv_to_rgb_reference(y, u, v, "bt601")
    h, w = y.shape
    u420 = u.reshape(h // 2, 2, w // 2, 2).mean((1, 3)).round().repeat(2, 0).repeat(2, 1)
    v420 = v.reshape(h // 2, 2, w // 2, 2).mean((1, 3)).round().repeat(2, 0).repeat(2, 1)
    wrong_chroma = yuv_to_rgb_reference(y, u420, v420, "bt709")
    for wrong in (wrong_matrix, wrong_chroma):
        assert np.percentile(np.abs(ours[0] - wrong), 99.9) > 3.0
