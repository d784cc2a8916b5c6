"""Sliding windows: edge padding by replication, order kept, bounded memory."""

from __future__ import annotations

import pytest

from vsr.video.stream import batched, sliding_windows


def test_windows_pad_by_replicating_edge_frames():
    windows = list(sliding_windows(range(4), 5))
    assert windows == [
        [0, 0, 0, 1, 2],
        [0, 0, 1, 2, 3],
        [0, 1, 2, 3, 3],
        [1, 2, 3, 3, 3],
    ]


def test_single_frame_and_window_longer_than_clip():
    assert list(sliding_windows([7], 3)) == [[7, 7, 7]]
    assert list(sliding_windows(range(2), 7)) == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1]]
    assert list(sliding_windows([], 3)) == []


def test_window_of_one_is_the_stream():
    assert [w[0] for w in sliding_windows(range(10), 1)] == list(range(10))


def test_memory_bounded_and_input_read_lazily():
    """Count frames alive at once: it must not grow with the stream's length."""
    alive = 0
    peak = 0

    class Tracked:
        def __init__(self):
            nonlocal alive, peak
            alive += 1
            peak = max(peak, alive)

        def __del__(self):
            nonlocal alive
            alive -= 1

    def source(n):
        for _ in range(n):
            yield Tracked()

    for window in sliding_windows(source(500), 5):
        del window
    assert peak <= 7  # 5 in the window + the one being read + one not yet released


def test_even_window_rejected():
    with pytest.raises(ValueError, match="odd"):
        list(sliding_windows(range(3), 4))


def test_batched():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
