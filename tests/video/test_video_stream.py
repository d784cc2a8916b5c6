"""Sliding windows: edge padding by replication, order kept, bounded memory."""

from __future__ import annotations

import pytest

from vsr.video.stream import batched, pad_index, sliding_windows


def test_windows_pad_by_replicating_edge_frames():
    windows = list(sliding_windows(range(4), 5, "replicate"))
    assert windows == [
        [0, 0, 0, 1, 2],
        [0, 0, 1, 2, 3],
        [0, 1, 2, 3, 3],
        [1, 2, 3, 3, 3],
    ]


def test_windows_pad_by_reflection():
    assert list(sliding_windows(range(4), 5)) == [
        [2, 1, 0, 1, 2],
        [1, 0, 1, 2, 3],
        [0, 1, 2, 3, 2],
        [1, 2, 3, 2, 1],
    ]


@pytest.mark.parametrize("padding", ["reflect", "replicate"])
def test_same_windows_as_validation_data(padding):
    """The streaming windows equal vsr.data's validation windows for every clip length."""
    clips = pytest.importorskip("vsr.data.clips")
    for length in range(1, 12):
        for num_frames in (1, 3, 5, 7, 9):
            got = list(sliding_windows(range(length), num_frames, padding))
            want = [clips.window_indices(c, num_frames, length, padding) for c in range(length)]
            assert got == want, (length, num_frames)


def test_pad_index():
    assert [pad_index(j, 4) for j in range(-3, 7)] == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert [pad_index(j, 4, "replicate") for j in (-2, 5)] == [0, 3]
    with pytest.raises(ValueError, match="unknown window padding"):
        pad_index(0, 3, "wrap")


def test_single_frame_and_window_longer_than_clip():
    assert list(sliding_windows([7], 3)) == [[7, 7, 7]]
    assert list(sliding_windows(range(2), 7, "replicate")) == [
        [0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1]]
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
