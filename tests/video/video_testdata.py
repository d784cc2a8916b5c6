"""Shared helpers for the video tests: where the real clips are, independent decoders."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
VIDEOS = DATA / "videos"

#: (Kr, Kb) luma coefficients by matrix name.
KR_KB = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}


def video(name: str) -> Path:
    """Path of a real clip in ../shared/data/videos, or skip the test when it is absent."""
    path = VIDEOS / name
    if not path.exists():
        pytest.skip(f"test video {path} is absent (../shared/data is not checked out here)")
    return path


def data_path(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test data {path} is absent (../shared/data is not checked out here)")
    return path


def yuv_to_rgb_reference(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str) -> np.ndarray:
    """Limited-range 8-bit Y'CbCr planes (full resolution) -> float64 RGB in [0, 255].

    Written from the matrix definitions (ITU-R BT.601/BT.709), independent of swscale.
    """
    kr, kb = KR_KB[matrix]
    kg = 1.0 - kr - kb
    yy = (y.astype(np.float64) - 16.0) / 219.0
    cb = (u.astype(np.float64) - 128.0) / 224.0
    cr = (v.astype(np.float64) - 128.0) / 224.0
    r = yy + 2 * (1 - kr) * cr
    b = yy + 2 * (1 - kb) * cb
    g = (yy - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], axis=-1) * 255.0, 0, 255)


def decode_reference(path: Path, matrix: str, limit: int | None = None) -> list[np.ndarray]:
    """Decode a 4:4:4 or 4:2:0 8-bit clip with numpy maths only (nearest chroma upsampling)."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            planes = frame.to_ndarray(format="yuv444p") if frame.format.name == "yuv444p" else None
            if planes is None:
                yuv = frame.to_ndarray(format="yuv420p")  # (3H/2, W) stacked planes
                h, w = frame.height, frame.width
                y = yuv[:h]
                u = yuv[h : h + h // 4].reshape(h // 2, w // 2)
                v = yuv[h + h // 4 :].reshape(h // 2, w // 2)
                u = u.repeat(2, 0).repeat(2, 1)
                v = v.repeat(2, 0).repeat(2, 1)
            else:
                y, u, v = planes
            out.append(yuv_to_rgb_reference(y, u, v, matrix))
            if limit is not None and len(out) >= limit:
                break
    return out


def frame_times(path: Path) -> list[float]:
    """Presentation times (seconds) of every video frame, in decode (display) order."""
    with av.open(str(path)) as container:
        return [float(f.pts * f.time_base) for f in container.decode(video=0)]
