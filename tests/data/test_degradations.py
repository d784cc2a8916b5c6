"""Degradations against independent references worked out from their definitions."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from vsr.data.degradations import (
    X264_WIDTH_MULTIPLE,
    blur_downsample,
    degrade,
    h264_encode,
    h264_roundtrip,
    imresize,
    jpeg_roundtrip,
    modcrop,
    rgb_to_yuv420p,
)

# ---------------------------------------------------------------------------------------------
# A slow, scalar reading of MATLAB's imresize definition (contributions + symmetric padding).
# ---------------------------------------------------------------------------------------------


def _keys_cubic(x: float) -> float:
    a = -0.5
    t = abs(x)
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t <= 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def _mirror(i: int, n: int) -> int:
    """MATLAB's symmetric index folding, 1-based: ..., 2, 1 | 1, 2, ..., n | n, n-1, ..."""
    period = 2 * n
    k = (i - 1) % period
    return k + 1 if k < n else period - k


def _reference_1d(values: list[float], out_len: int, scale: float) -> list[float]:
    n = len(values)
    width = 4 / scale if scale < 1 else 4
    out = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = math.ceil(width) + 2
        weights, sources = [], []
        for j in range(taps):
            pos = left + j
            d = u - pos
            weights.append(scale * _keys_cubic(scale * d) if scale < 1 else _keys_cubic(d))
            sources.append(values[_mirror(pos, n) - 1])
        total = sum(weights)
        out.append(sum(w * s for w, s in zip(weights, sources, strict=True)) / total)
    return out


def _reference_2d(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    rows = np.array([_reference_1d(list(img[:, c]), out_h, scale) for c in range(w)]).T
    return np.array([_reference_1d(list(rows[r]), out_w, scale) for r in range(out_h)])


def test_ramp_shrink_x2_matches_matlab_definition() -> None:
    ramp = np.arange(16, dtype=np.float64).reshape(4, 4)
    expected = _reference_2d(ramp, 0.5)
    np.testing.assert_allclose(imresize(ramp, 0.5), expected, rtol=0, atol=1e-12)
    # Worked by hand: the x2 shrink of the column [0, 1, 2, 3] (row 0) uses the kernel
    # 0.5 * cubic(0.5 * d) over d = +-0.5, +-1.5, +-2.5, +-3.5 around u = 1.5 with the
    # symmetric border. Its first value is 0.4609375, so the 2-D corner is 4 * v + v.
    v = _reference_1d([0.0, 1.0, 2.0, 3.0], 2, 0.5)[0]
    assert v == pytest.approx(0.4609375, abs=1e-12)
    assert imresize(ramp, 0.5)[0, 0] == pytest.approx(5 * 0.4609375, abs=1e-12)


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.25, 2.0, 3.0, 0.7])
def test_imresize_float_matches_reference(scale: float) -> None:
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 1, (12, 9))
    np.testing.assert_allclose(imresize(img, scale), _reference_2d(img, scale), atol=1e-12)


def test_imresize_colour_channels_independent() -> None:
    rng = np.random.default_rng(4)
    img = rng.uniform(0, 1, (8, 10, 3))
    out = imresize(img, 0.5)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], _reference_2d(img[..., c], 0.5), atol=1e-12)


def test_uint8_is_rounded_after_each_pass() -> None:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    out = imresize(img, 0.25)
    assert out.dtype == np.uint8
    expected = np.empty((3, 3, 3))
    for c in range(3):
        chan = img[..., c].astype(np.float64)
        cols = np.array([_reference_1d(list(chan[:, j]), 3, 0.25) for j in range(12)]).T
        cols = np.clip(np.floor(cols + 0.5), 0, 255)  # MATLAB rounds half away from zero
        rows = np.array([_reference_1d(list(cols[i]), 3, 0.25) for i in range(3)])
        expected[..., c] = np.clip(np.floor(rows + 0.5), 0, 255)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_uint8_saturates_overshoot() -> None:
    # A hard edge overshoots with the negative lobes of the cubic kernel: clipped to 0 / 255.
    img = np.zeros((4, 8), dtype=np.uint8)
    img[:, 4:] = 255
    up = imresize(img, 2.0)
    assert up.min() == 0 and up.max() == 255
    assert (imresize(img.astype(np.float64), 2.0).max()) > 255


def test_constant_image_is_preserved() -> None:
    img = np.full((9, 7, 3), 77, dtype=np.uint8)
    for scale in (0.5, 1 / 3, 0.25, 2.0, 4.0):
        np.testing.assert_array_equal(imresize(img, scale), 77)


def test_shrink_then_grow_round_trip() -> None:
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    smooth = 0.5 + 0.4 * np.sin(xx / 9.0) * np.cos(yy / 11.0)
    for s in (2, 3, 4):
        crop = smooth[: 64 - 64 % s, : 64 - 64 % s]
        back = imresize(imresize(crop, 1 / s), float(s))
        assert back.shape == crop.shape
        inner = (slice(8, -8), slice(8, -8))  # away from the border
        assert np.abs(back[inner] - crop[inner]).max() < 0.02 * s
    # Growing then shrinking by the same factor nearly returns the original.
    there_and_back = imresize(imresize(smooth, 2.0), 0.5)
    assert np.abs(there_and_back - smooth)[4:-4, 4:-4].max() < 0.01


def test_output_shape_and_matlab_ceil_size() -> None:
    img = np.zeros((10, 7, 3), dtype=np.float32)
    assert imresize(img, 0.5).shape == (5, 4, 3)  # ceil(3.5) = 4, as MATLAB
    assert imresize(img, 1.0, output_shape=(4, 6)).shape == (4, 6, 3)
    assert imresize(img, 0.5).dtype == np.float32


# ---------------------------------------------------------------------------------------------
# BD: blur then subsample, against the explicit convolution sum
# ---------------------------------------------------------------------------------------------


def _reflect101(i: int, n: int) -> int:
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


def test_bd_matches_direct_formula() -> None:
    rng = np.random.default_rng(6)
    hr = rng.integers(0, 256, (1, 24, 20, 3), dtype=np.uint8)
    s, sigma, k = 4, 1.6, 13
    r = k // 2
    g = np.array([math.exp(-(d * d) / (2 * sigma * sigma)) for d in range(-r, r + 1)])
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    h, w = 24, 20
    expected = np.zeros((h // s, w // s, 3))
    for oy in range(h // s):
        for ox in range(w // s):
            y, x = oy * s, ox * s  # every s-th pixel starting at the first
            acc = np.zeros(3)
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    pix = hr[0, _reflect101(y + dy, h), _reflect101(x + dx, w)]
                    acc += kernel[dy + r, dx + r] * pix
            expected[oy, ox] = acc
    out = blur_downsample(hr, s, sigma, k)[0].astype(np.float64)
    assert out.shape == expected.shape
    # uint8 output: within rounding of the float64 sum.
    assert np.abs(out - expected).max() <= 0.5 + 1e-3
    lr, info = degrade(hr, 4, "blur", seed=0)
    np.testing.assert_array_equal(lr[0], out.astype(np.uint8))
    assert info["raw_strength"] == pytest.approx(1.6) and info["strength"] == pytest.approx(0.4)


# ---------------------------------------------------------------------------------------------
# noise and compression
# ---------------------------------------------------------------------------------------------


def _clip(seed: int = 0, t: int = 5, h: int = 64, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(t):
        base = 128 + 60 * np.sin((xx + 3 * i) / 5.0) * np.cos(yy / 7.0)
        frames.append(np.stack([base, base[::-1], 255 - base], -1))
    noise = np.random.default_rng(seed).normal(0, 8, (t, h, w, 3))
    return np.clip(np.stack(frames) + noise, 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_noise_is_deterministic_and_has_the_drawn_sigma() -> None:
    hr = _clip()
    a, info_a = degrade(hr, 2, "noise", seed=7, noise_sigma=(5.0, 25.0))
    b, info_b = degrade(hr, 2, "noise", seed=7, noise_sigma=(5.0, 25.0))
    c, info_c = degrade(hr, 2, "noise", seed=8, noise_sigma=(5.0, 25.0))
    np.testing.assert_array_equal(a, b)
    assert info_a == info_b and not np.array_equal(a, c)
    bi, _ = degrade(hr, 2, "bicubic")
    sigma = info_a["raw_strength"]
    assert 5.0 <= sigma <= 25.0 and info_a["strength"] == pytest.approx(sigma / 50.0)
    residual = a.astype(np.float64) - bi
    assert np.std(residual) == pytest.approx(sigma, rel=0.1)
    fixed, info = degrade(hr, 2, "noise", seed=1, noise_sigma=10.0)
    assert info["raw_strength"] == 10.0


def test_h264_really_encodes() -> None:
    hr = _clip()
    bi, _ = degrade(hr, 2, "bicubic")
    lr, info = degrade(hr, 2, "compression", seed=0, crf=30)
    assert info["param"] == "crf" and info["raw_strength"] == 30
    assert info["strength"] == pytest.approx(30 / 51)
    psnr = _psnr(lr, bi)
    assert math.isfinite(psnr) and 20 < psnr < 50
    worse = h264_roundtrip(bi, 45)
    assert _psnr(worse, bi) < psnr  # a higher CRF loses more
    # Deterministic for a seed, and a range draws different CRFs for different seeds.
    again, _ = degrade(hr, 2, "compression", seed=0, crf=30)
    np.testing.assert_array_equal(lr, again)
    crfs = {
        degrade(hr, 2, "compression", seed=s, crf=(18, 40))[1]["raw_strength"] for s in range(6)
    }
    assert len(crfs) > 1


def _smooth_clip(t: int = 3, h: int = 22, w: int = 30, seed: int = 0) -> np.ndarray:
    """Colourful, smooth frames (4:2:0 keeps them well) of even size."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (t, 4, 5, 3)).astype(np.uint8)
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in small])


def test_yuv420p_conversion_is_bt601_studio_range() -> None:
    import av

    frame = _smooth_clip(t=1)[0]
    planes = rgb_to_yuv420p(frame)
    assert planes.shape == (33, 30) and planes.dtype == np.uint8
    # Luma: MATLAB rgb2ycbcr's formula, written out here.
    r, g, b = (frame[..., c].astype(np.float64) for c in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    assert np.abs(planes[:22].astype(float) - y).max() <= 0.5 + 1e-9
    # FFmpeg's own conversion (swscale) agrees: luma to a level; chroma, which it filters and
    # sites a little differently, to about one level on average.
    swscale = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
    diff = np.abs(swscale.to_ndarray().astype(int) - planes)
    assert diff[:22].max() <= 1 and diff[22:].mean() < 1.5
    # Decoded back by FFmpeg (as the round trip does), as close to the original as FFmpeg's
    # own round trip; flat colours to a level or two.
    ours = av.VideoFrame.from_ndarray(planes, format="yuv420p").to_ndarray(format="rgb24")
    theirs = swscale.to_ndarray(format="rgb24")
    assert _psnr(ours, frame) >= _psnr(theirs, frame) - 0.5 and _psnr(ours, frame) > 30
    flat = np.full((4, 6, 3), (200, 30, 90), np.uint8)
    flat_planes = rgb_to_yuv420p(flat)
    back = av.VideoFrame.from_ndarray(flat_planes, format="yuv420p").to_ndarray(format="rgb24")
    assert np.abs(back.astype(int) - flat).max() <= 2
    for bad in (frame[:21], frame[:, :29], frame.astype(np.float32), frame[..., :1]):
        with pytest.raises(ValueError, match="even H and W"):
            rgb_to_yuv420p(bad)


def test_h264_encodes_our_conversion_not_ffmpegs() -> None:
    """x264 receives the planes of rgb_to_yuv420p (plain float64 arithmetic, where swscale's
    SIMD paths may differ by CPU): a lossless encode (CRF 0) gives them back exactly."""
    import io

    import av

    clip = _smooth_clip()
    with av.open(io.BytesIO(h264_encode(clip, 0))) as container:
        coded_width = container.streams.video[0].width
        frames = list(container.decode(video=0))
        planes = [f.to_ndarray(format="yuv420p") for f in frames]
        rgb = [f.to_ndarray(format="rgb24") for f in frames]
    # The encoder gets the clip edge-padded on the right to a width x264 encodes repeatably.
    assert coded_width % X264_WIDTH_MULTIPLE == 0 and coded_width >= clip.shape[2]
    padded = np.pad(clip, ((0, 0), (0, 0), (0, coded_width - clip.shape[2]), (0, 0)), "edge")
    assert len(planes) == len(clip)
    for got, frame in zip(planes, padded, strict=True):
        np.testing.assert_array_equal(got, rgb_to_yuv420p(frame))
    np.testing.assert_array_equal(h264_roundtrip(clip, 0), np.stack(rgb)[:, :, : clip.shape[2]])


# Run in a fresh interpreter: glibc reads MALLOC_PERTURB_ once, at start-up.
_ENCODE_ONE_CLIP = """
import hashlib, sys
import numpy as np
from vsr.data.degradations import h264_encode
h, w = 64, 224
yy, xx = np.mgrid[0:h, 0:w]
planes = [128 + 60 * np.sin((xx + 3 * i) / 5.0) * np.cos(yy / 7.0) for i in range(7)]
clip = np.stack([np.stack([p, p[::-1], 255 - p], -1) for p in planes])
clip = clip + np.random.default_rng(0).normal(0, 8, clip.shape)
clip = np.clip(clip, 0, 255).astype(np.uint8)
sys.stdout.write(hashlib.sha256(h264_encode(clip, 33)).hexdigest())
"""


@pytest.mark.skipif(sys.platform != "linux", reason="MALLOC_PERTURB_ is a glibc setting")
def test_h264_stream_does_not_depend_on_unwritten_memory() -> None:
    """libx264 reads memory it never wrote unless the picture width suits it, so one clip could
    come out as different streams. glibc's MALLOC_PERTURB_ fills fresh memory with the byte it
    names: the stream of a 224-pixel-wide clip must not change with it (it did before the
    encoder padded the width)."""
    streams = set()
    for fill_byte in ("1", "254"):
        result = subprocess.run(
            [sys.executable, "-c", _ENCODE_ONE_CLIP],
            env={**os.environ, "MALLOC_PERTURB_": fill_byte},
            capture_output=True,
            text=True,
            check=True,
        )
        streams.add(result.stdout)
    assert len(streams) == 1


def test_h264_file_size_follows_crf() -> None:
    bi, _ = degrade(_clip(), 2, "bicubic")
    sizes = [len(h264_encode(bi, crf)) for crf in (10, 25, 40)]
    assert sizes[0] > sizes[1] > sizes[2]  # a higher CRF spends fewer bits
    assert sizes[0] < bi.nbytes  # and it is really compressed


def test_h264_odd_sizes_round_trip() -> None:
    clip = _clip(t=3, h=21, w=15)
    out = h264_roundtrip(clip, 10)
    assert out.shape == clip.shape
    assert _psnr(out, clip) > 25


def test_jpeg_option() -> None:
    hr = _clip(t=2)
    bi, _ = degrade(hr, 2, "bicubic")
    lr, info = degrade(hr, 2, "compression", seed=0, codec="jpeg", jpeg_quality=20)
    assert info["param"] == "jpeg_quality" and info["strength"] == pytest.approx(0.8)
    assert 20 < _psnr(lr, bi) < 50
    np.testing.assert_array_equal(lr, jpeg_roundtrip(bi, 20))


def test_modcrop_and_info() -> None:
    hr = _clip(t=2, h=31, w=29)
    assert modcrop(hr, 3).shape == (2, 30, 27, 3)
    lr, info = degrade(hr, 3, "bicubic")
    assert lr.shape == (2, 10, 9, 3)
    assert info == {
        "scale": 3,
        "degradation": "bicubic",
        "hr_shape": (30, 27),
        "param": None,
        "raw_strength": None,
        "strength": 0.0,
    }
    np.testing.assert_array_equal(lr[0], imresize(modcrop(hr, 3)[0], 1 / 3))


def test_bad_input_errors() -> None:
    with pytest.raises(ValueError, match="unknown degradation 'sharpen'"):
        degrade(_clip(t=1), 2, "sharpen")
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        degrade(np.zeros((8, 8, 3), np.uint8), 2, "bicubic")
    with pytest.raises(ValueError, match="codec"):
        degrade(_clip(t=1), 2, "compression", codec="av1")
