"""Degradations that turn a high-resolution clip into the low-resolution input the model sees.

Four kinds, named as in :data:`vsr.conditions.DEGRADATIONS`:

- ``bicubic`` ("BI"): MATLAB ``imresize`` bicubic downsampling, the convention of the REDS,
  Vimeo-90K and Vid4 benchmarks.
- ``blur`` ("BD"): 13x13 Gaussian blur (sigma 1.6), then every ``scale``-th pixel starting at
  the first one.
- ``noise``: BI plus white Gaussian noise (sigma in 0-255 units).
- ``compression``: BI plus a real H.264 encode/decode of the whole clip (artefacts carry across
  frames), or per-frame JPEG as the cheap option.

Clips are numpy arrays ``(T, H, W, 3)`` uint8 RGB. :func:`degrade` is deterministic for a seed.
"""

from __future__ import annotations

import io
from typing import Any

import av
import cv2
import numpy as np

from vsr.conditions import DEGRADATIONS
from vsr.video.colour import SWSCALE_THREADS

#: Fixed raw-strength ranges mapped linearly to [0, 1] for the network's condition input.
#: They do not depend on the configured sampling range, so a given normalised strength means
#: the same thing whatever the training config was. Entries: (parameter, value at 0, value at 1).
STRENGTH_REFERENCE: dict[str, tuple[str, float, float]] = {
    "blur": ("sigma", 0.0, 4.0),
    "noise": ("sigma", 0.0, 50.0),
    "h264": ("crf", 0.0, 51.0),  # x264's CRF scale: 0 lossless, 51 worst
    "jpeg": ("quality", 100.0, 0.0),  # lower JPEG quality = stronger degradation
}


# --------------------------------------------------------------------------------------------
# MATLAB imresize (bicubic)
# --------------------------------------------------------------------------------------------


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, as MATLAB's ``imresize`` defines it."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def resize_weights(
    in_len: int, out_len: int, scale: float, antialias: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per-output taps of MATLAB's bicubic ``imresize`` along one axis.

    Follows MATLAB's ``contributions``: output pixel ``x`` (1-based) maps to input coordinate
    ``u = x / scale + 0.5 * (1 - 1 / scale)``; when shrinking with antialiasing the kernel is
    stretched by ``1 / scale`` (and scaled by ``scale``); weights are normalised to sum to one;
    out-of-range taps are folded back with symmetric padding (``[1..n, n..1]`` repeated), which
    is why the edges behave as if the border pixel were replicated.

    Returns:
        ``(weights, indices)``, both ``(out_len, taps)``: float64 weights and 0-based input
        indices.
    """
    kernel_width = 4.0
    shrink_aa = scale < 1 and antialias
    if shrink_aa:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(np.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based input positions
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if shrink_aa else _cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    indices = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    # Drop tap columns that are zero for every output pixel (as MATLAB does): less work.
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """The dense ``(out_len, in_len)`` float64 matrix of :func:`resize_weights`."""
    weights, indices = resize_weights(in_len, out_len, scale, antialias)
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_len)[:, None], indices.shape)
    np.add.at(matrix, (rows, indices), weights)
    return matrix


def _round_uint8(x: np.ndarray) -> np.ndarray:
    # MATLAB's uint8() rounds half away from zero and saturates; np.round would round half to even.
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def _apply_axis(arr: np.ndarray, weights: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
    """Weighted sum of the gathered taps along ``axis``: ``out[i] = sum_p w[i,p] a[idx[i,p]]``."""
    moved = np.moveaxis(arr, axis, 0)
    out = np.zeros((indices.shape[0], *moved.shape[1:]), dtype=np.float64)
    # A few taps per output pixel: gathering them beats a dense matrix product by ~taps/in_len.
    for p in range(indices.shape[1]):
        w = weights[:, p].reshape(-1, *([1] * (moved.ndim - 1)))
        out += w * moved[indices[:, p]]
    return np.moveaxis(out, 0, axis)


def _resize_hw(
    arr: np.ndarray,
    h_axis: int,
    scale: float,
    output_shape: tuple[int, int] | None,
    antialias: bool,
) -> np.ndarray:
    """Resize the two axes ``h_axis`` and ``h_axis + 1`` of ``arr`` the MATLAB way."""
    in_h, in_w = arr.shape[h_axis], arr.shape[h_axis + 1]
    if output_shape is None:
        if scale <= 0:
            raise ValueError(f"imresize scale must be positive, got {scale}")
        out_h, out_w = int(np.ceil(in_h * scale)), int(np.ceil(in_w * scale))
        scale_h = scale_w = float(scale)
    else:
        out_h, out_w = (int(v) for v in output_shape)
        if out_h <= 0 or out_w <= 0:
            raise ValueError(f"imresize output_shape must be positive, got {output_shape}")
        scale_h, scale_w = out_h / in_h, out_w / in_w
    is_uint8 = arr.dtype == np.uint8
    if not is_uint8 and not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"imresize expects uint8 or floating-point images, got {arr.dtype}")
    # MATLAB resizes the dimension with the smaller scale first (rows first on a tie).
    order = [(h_axis, out_h, scale_h), (h_axis + 1, out_w, scale_w)]
    if scale_w < scale_h:
        order.reverse()
    out = arr
    for axis, out_len, s in order:
        weights, indices = resize_weights(out.shape[axis], out_len, s, antialias)
        out = _apply_axis(out, weights, indices, axis)
        # MATLAB's resize keeps the input class after each pass, so uint8 images are rounded
        # between the row and the column pass too.
        if is_uint8:
            out = _round_uint8(out)
    if is_uint8:
        return out
    return out.astype(arr.dtype, copy=False)


def imresize(
    img: np.ndarray,
    scale: float,
    output_shape: tuple[int, int] | None = None,
    antialias: bool = True,
) -> np.ndarray:
    """MATLAB-compatible bicubic ``imresize`` for numpy images.

    Args:
        img: ``(H, W)`` or ``(H, W, C)`` array, uint8 or floating point.
        scale: resize factor; ``< 1`` shrinks (``0.25`` is x4 downsampling). The output size is
            ``ceil(H * scale), ceil(W * scale)`` as in MATLAB. Ignored when ``output_shape`` is
            given.
        output_shape: optional ``(out_h, out_w)``.
        antialias: stretch the kernel when shrinking (MATLAB's default, True).

    Returns:
        The resized image, same dtype: uint8 in gives rounded, saturated uint8 out (rounded after
        each axis pass, as MATLAB does); float in gives unclipped float out.
    """
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize expects an (H, W) or (H, W, C) image, got shape {img.shape}")
    return _resize_hw(img, 0, scale, output_shape, antialias)


def imresize_clip(frames: np.ndarray, scale: float) -> np.ndarray:
    """:func:`imresize` applied to every frame of a ``(T, H, W, C)`` clip in one pass."""
    if frames.ndim != 4:
        raise ValueError(f"expected a (T, H, W, C) clip, got shape {frames.shape}")
    return _resize_hw(frames, 1, scale, None, True)


# --------------------------------------------------------------------------------------------
# The individual degradations
# --------------------------------------------------------------------------------------------


def modcrop(frames: np.ndarray, scale: int) -> np.ndarray:
    """Crop ``(..., H, W, C)`` so that H and W are multiples of ``scale`` (top-left kept)."""
    h, w = frames.shape[-3], frames.shape[-2]
    return frames[..., : h - h % scale, : w - w % scale, :]


def blur_downsample(
    frames: np.ndarray, scale: int, sigma: float = 1.6, kernel_size: int = 13
) -> np.ndarray:
    """BD: Gaussian blur then keep pixels ``0, s, 2s, ...`` in both directions.

    The border is mirrored without repeating the edge pixel (``cv2.BORDER_REFLECT_101``, the
    same as PyTorch's ``'reflect'`` padding used by the common Python BD code); only pixels
    within 6 of the border are affected.

    Args:
        frames: ``(T, H, W, 3)`` uint8 clip, H and W multiples of ``scale``.
        scale: subsampling factor.
        sigma: Gaussian standard deviation in HR pixels.
        kernel_size: odd filter size.

    Returns:
        ``(T, H / s, W / s, 3)`` uint8 (rounded half up).
    """
    out = []
    for frame in frames:
        blurred = cv2.GaussianBlur(
            frame.astype(np.float32),
            (kernel_size, kernel_size),
            sigmaX=sigma,
            sigmaY=sigma,
            borderType=cv2.BORDER_REFLECT_101,
        )
        out.append(blurred[::scale, ::scale])
    return _round_uint8(np.stack(out))


def add_gaussian_noise(frames: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise of std ``sigma`` (0-255 units) to a uint8 clip; round and clip."""
    noisy = frames.astype(np.float32) + rng.normal(0.0, sigma, frames.shape).astype(np.float32)
    return _round_uint8(noisy)


# BT.601 studio range (Y 16-235, Cb/Cr 16-240): what an untagged yuv420p stream holds. The
# encoder's input is converted here, with float64 element-wise arithmetic, instead of by
# FFmpeg's swscale, whose CPU-specific SIMD paths need not round alike on every machine (the
# likeliest reason the compression rows of the held-out benchmark read up to 0.03 dB apart
# on two machines). Decoding stays with swscale, as vsr-upscale decodes a user's video
# (vsr.video.colour), so the network sees what it will see in use.
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB (H, W even) to yuv420p planes stacked as ``(3H/2, W)`` uint8.

    Chroma is the mean of each 2x2 block. Bit-identical on every machine.

    Raises:
        ValueError: for anything but an (H, W, 3) uint8 frame of even height and width
            (:func:`h264_encode` pads odd sizes first).
    """
    h, w = frame.shape[:2]
    if frame.shape != (h, w, 3) or frame.dtype != np.uint8 or h % 2 or w % 2:
        raise ValueError(
            f"rgb_to_yuv420p needs an (H, W, 3) uint8 RGB frame of even H and W (4:2:0 halves "
            f"both), got {frame.shape} {frame.dtype}; pad odd sizes by one row or column first"
        )
    r, g, b = (frame[..., c].astype(np.float64) for c in range(3))
    luma = _KR * r + _KG * g + _KB * b  # 0-255
    y = 16.0 + luma * (219.0 / 255.0)
    cb = 128.0 + (b - luma) * (224.0 / 255.0 / (2.0 * (1.0 - _KB)))
    cr = 128.0 + (r - luma) * (224.0 / 255.0 / (2.0 * (1.0 - _KR)))

    def half(plane: np.ndarray) -> np.ndarray:
        return (plane[0::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 0::2] + plane[1::2, 1::2]) / 4

    # PyAV's layout: the three planes one after the other, viewed as rows of W bytes.
    planes = [_round_uint8(y), _round_uint8(half(cb)), _round_uint8(half(cr))]
    return np.concatenate([plane.ravel() for plane in planes]).reshape(h * 3 // 2, w)


#: Width every H.264 encode is padded to a multiple of. For other widths libx264 (PyAV 18.1's)
#: reads memory it never wrote, so one clip gave different streams from one call to the next
#: (compression rows of the held-out benchmark moved by up to 0.04 dB between runs): with
#: glibc's MALLOC_PERTURB_ filling fresh memory with other bytes, the stream changed for every
#: width tried that is not a multiple of 128 (27 widths of 32-496 pixels, at 79 of their 81
#: sizes), and for none that is (7 widths of 128-896 pixels, heights 16-360). Edge padding on
#: the right keeps the macroblock grid of the picture where it was.
X264_WIDTH_MULTIPLE = 128


def h264_encode(frames: np.ndarray, crf: int, preset: str = "medium", fps: int = 25) -> bytes:
    """Encode a clip with x264 (yuv420p) into an in-memory MP4 file.

    The picture is edge-padded to an even height (4:2:0 needs it) and to a width that is a
    multiple of :data:`X264_WIDTH_MULTIPLE`; :func:`h264_decode` crops back.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB clip.
        crf: x264 constant rate factor, 0 (lossless) to 51 (worst).
        preset: x264 speed preset; changes the artefacts only slightly.
        fps: nominal frame rate written into the stream (affects rate control a little).

    Returns:
        The MP4 file's bytes.
    """
    h, w = frames.shape[1:3]
    pad_right = -w % X264_WIDTH_MULTIPLE
    padded = np.pad(frames, ((0, 0), (0, h % 2), (0, pad_right), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = padded.shape[2], padded.shape[1]
        stream.pix_fmt = "yuv420p"
        # One thread keeps the encode bit-exact for a seed and avoids oversubscribing workers.
        stream.options = {"crf": str(int(crf)), "preset": preset, "threads": "1"}
        for frame in padded:
            video_frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def h264_decode(data: bytes, height: int, width: int) -> np.ndarray:
    """Decode an in-memory MP4 to ``(T, height, width, 3)`` uint8 RGB (cropping any padding)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        # swscale's BT.601 studio-range conversion: how vsr-upscale decodes an untagged stream.
        decoded = [frame.to_ndarray(format="rgb24", threads=SWSCALE_THREADS)
                   for frame in container.decode(video=0)]
    return np.stack(decoded)[:, :height, :width]


def h264_roundtrip(
    frames: np.ndarray, crf: int, preset: str = "medium", fps: int = 25
) -> np.ndarray:
    """Encode a clip with x264 and decode it back: ``(T, H, W, 3)`` uint8 in and out.

    The whole clip goes through one encoder, so P/B-frame artefacts carry across frames as in
    real footage. See :func:`h264_encode` for the arguments.
    """
    t, h, w = frames.shape[:3]
    out = h264_decode(h264_encode(frames, crf, preset, fps), h, w)
    if out.shape[0] != t:
        raise RuntimeError(f"H.264 round trip returned {out.shape[0]} frames for {t} encoded")
    return out


def jpeg_roundtrip(frames: np.ndarray, quality: int) -> np.ndarray:
    """JPEG-compress every frame independently with OpenCV at ``quality`` (1-100)."""
    out = []
    for frame in frames:
        ok, data = cv2.imencode(
            ".jpg", frame[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
        )
        if not ok:
            raise RuntimeError("OpenCV failed to JPEG-encode a frame")
        out.append(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
    return np.ascontiguousarray(np.stack(out))


# --------------------------------------------------------------------------------------------
# degrade(): one entry point with deterministic randomness
# --------------------------------------------------------------------------------------------

Range = float | tuple[float, float] | list[float]


def _draw(value: Range, rng: np.random.Generator, integer: bool = False) -> float:
    """A fixed value, or a uniform draw from ``[lo, hi]`` (inclusive for integers)."""
    if isinstance(value, (tuple, list)):
        lo, hi = (float(v) for v in value)
        if hi < lo:
            raise ValueError(f"strength range must be (low, high) with low <= high, got {value}")
        if integer:
            return float(rng.integers(int(lo), int(hi) + 1))
        return float(rng.uniform(lo, hi))
    return float(value)


def normalise_strength(param: str, raw: float) -> float:
    """Map a raw strength to [0, 1] with :data:`STRENGTH_REFERENCE` (``param`` is its key)."""
    _, at0, at1 = STRENGTH_REFERENCE[param]
    return float(np.clip((raw - at0) / (at1 - at0), 0.0, 1.0))


def degrade(
    frames: np.ndarray,
    scale: int,
    kind: str,
    seed: int = 0,
    *,
    blur_sigma: Range = 1.6,
    blur_kernel_size: int = 13,
    noise_sigma: Range = (1.0, 30.0),
    codec: str = "h264",
    crf: Range = (18, 35),
    jpeg_quality: Range = (30, 90),
    preset: str = "medium",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Degrade a high-resolution clip into its low-resolution input.

    The clip is first cropped to a multiple of ``scale`` (:func:`modcrop`). Strength arguments
    take a fixed value or a ``(low, high)`` range drawn uniformly with ``seed``.

    Args:
        frames: ``(T, H, W, 3)`` uint8 RGB clip.
        scale: downscaling factor (2, 3 or 4 for the default model; any positive int works).
        kind: one of :data:`vsr.conditions.DEGRADATIONS`.
        seed: seeds every random draw; the same seed gives the same output.
        blur_sigma: Gaussian sigma of ``blur`` in HR pixels (BD convention: 1.6).
        blur_kernel_size: filter size of ``blur`` (BD convention: 13).
        noise_sigma: noise std of ``noise`` in 0-255 units.
        codec: ``"h264"`` (real video encode of the whole clip) or ``"jpeg"`` (per frame).
        crf: x264 CRF for ``codec="h264"``, integers.
        jpeg_quality: JPEG quality for ``codec="jpeg"``, integers 1-100.
        preset: x264 preset.

    Returns:
        ``(lr, info)``: ``lr`` is ``(T, H // s, W // s, 3)`` uint8; ``info`` holds ``scale``,
        ``degradation`` (the kind), ``strength`` (normalised to [0, 1] for conditioning, 0 for
        bicubic), ``raw_strength`` (sigma, CRF or quality; None for bicubic), ``param`` (its
        name, e.g. ``"noise_sigma"``) and ``hr_shape`` (the cropped ``(H, W)``).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"degrade expects a (T, H, W, 3) uint8 clip, got shape {frames.shape} {frames.dtype}"
        )
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}: expected one of {', '.join(DEGRADATIONS)}")
    scale = int(scale)
    hr = modcrop(frames, scale)
    if hr.shape[1] == 0 or hr.shape[2] == 0:
        raise ValueError(f"clip of size {frames.shape[1:3]} is smaller than the scale {scale}")
    rng = np.random.default_rng(seed)
    info: dict[str, Any] = {"scale": scale, "degradation": kind, "hr_shape": hr.shape[1:3]}

    if kind == "blur":
        sigma = _draw(blur_sigma, rng)
        lr = blur_downsample(hr, scale, sigma, blur_kernel_size)
        info.update(
            param="blur_sigma", raw_strength=sigma, strength=normalise_strength("blur", sigma)
        )
        return lr, info

    lr = imresize_clip(hr, 1.0 / scale)
    if kind == "bicubic":
        info.update(param=None, raw_strength=None, strength=0.0)
    elif kind == "noise":
        sigma = _draw(noise_sigma, rng)
        lr = add_gaussian_noise(lr, sigma, rng)
        info.update(
            param="noise_sigma", raw_strength=sigma, strength=normalise_strength("noise", sigma)
        )
    elif codec == "h264":
        value = int(_draw(crf, rng, integer=True))
        lr = h264_roundtrip(lr, value, preset=preset)
        info.update(param="crf", raw_strength=value, strength=normalise_strength("h264", value))
    elif codec == "jpeg":
        value = int(_draw(jpeg_quality, rng, integer=True))
        lr = jpeg_roundtrip(lr, value)
        info.update(
            param="jpeg_quality", raw_strength=value, strength=normalise_strength("jpeg", value)
        )
    else:
        raise ValueError(f"unknown compression codec {codec!r}: expected 'h264' or 'jpeg'")
    return lr, info
