"""Frame conversions leave nothing behind that hangs a forked process (a DataLoader worker).

swscale's slice threads (its default: one per core) once used in a process made a process
forked from it hang on its first conversion (``pthread_cond_destroy`` in ``sws_frame_setup``):
training froze when a DataLoader forked its workers after frames had been converted in the
main process. vsr converts with one swscale thread (``SWSCALE_THREADS``).
"""

from __future__ import annotations

import multiprocessing

import numpy as np

from vsr.data.degradations import h264_roundtrip
from vsr.video.colour import ColourInfo, frame_to_rgb, rgb_to_frame


def _compress_in_child() -> tuple[int, ...]:
    clip = np.random.default_rng(0).integers(0, 256, (3, 6, 128, 3), dtype=np.uint8)
    return h264_roundtrip(clip, crf=28).shape


def test_a_worker_forked_after_large_conversions_converts_frames() -> None:
    # What vsr-upscale does in the main process: 720p frames to RGB and back.
    colour = ColourInfo()
    rgb = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    for _ in range(3):
        frame = rgb_to_frame(rgb, "yuv420p", colour)
        assert frame_to_rgb(frame, colour).shape == rgb.shape
    # Then a forked worker compresses and decodes a training sample, as the DataLoader's do.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        shape = pool.apply_async(_compress_in_child).get(timeout=30)
    assert shape == (3, 6, 128, 3)
