"""Segments: the plan covers every frame once, and a segment's windows are the whole pass's."""

from __future__ import annotations

import json

import pytest

from vsr.video.job import JobFolder, JobMismatchError
from vsr.video.segments import Segment, plan_segments, segment_windows
from vsr.video.stream import PADDINGS, sliding_windows


@pytest.mark.parametrize("total", [1, 2, 7, 100, 101, 250, 1000])
@pytest.mark.parametrize("length", [1, 3, 40, 100])
def test_plan_covers_every_frame_once(total, length):
    segments = plan_segments(total, length, radius=2)
    assert segments[0].first == 0 and segments[-1].stop == total
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.stop == b.first
    assert [s.number for s in segments] == list(range(len(segments)))
    assert all(s.frames >= 1 for s in segments)
    # About the asked length: never more than a quarter longer, only the last one shorter.
    assert all(s.frames <= length + length // 4 for s in segments)
    assert all(s.frames >= length - length // 4 for s in segments[:-1])


def test_plan_cuts_where_the_context_starts_at_a_keyframe():
    keyframes = [0, 37, 95, 161, 220]
    segments = plan_segments(300, 50, radius=2, keyframes=keyframes)
    cuts = [s.first for s in segments[1:]]
    # The first cut would be at 50; 37 + radius = 39 is within a quarter of 50 (12 frames).
    assert cuts[0] == 39 and cuts[1] == 97
    for cut in cuts:
        snapped = cut - 2 in keyframes
        assert snapped or all(abs(k + 2 - cut) > 12 for k in keyframes)


def test_one_segment_when_the_clip_is_short():
    assert plan_segments(90, 100, radius=2) == [Segment(0, 0, 90)]
    assert plan_segments(120, 100, radius=2) == [Segment(0, 0, 120)]  # within the slack


def test_plan_rejects_zero_length():
    with pytest.raises(ValueError, match="segment length"):
        plan_segments(10, 0, radius=2)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("num_frames", [1, 3, 5, 7])
@pytest.mark.parametrize("total", [1, 2, 3, 4, 9, 23])
def test_segment_windows_equal_the_whole_pass(total, num_frames, padding):
    whole = list(sliding_windows(range(total), num_frames, padding))
    radius = num_frames // 2
    for length in (1, 2, 5):
        pieces = []
        for segment in plan_segments(total, length, radius):
            context = segment.context(total, radius)
            pieces += list(segment_windows(iter(context), segment, total, num_frames, padding))
        assert pieces == whole


def test_segment_windows_read_lazily_and_hold_a_window():
    total, segment = 1000, Segment(3, 400, 600)
    read = []

    def frames():
        for i in segment.context(total, 2):
            read.append(i)
            yield i

    windows = segment_windows(frames(), segment, total, 5)
    first = next(windows)
    assert first == [398, 399, 400, 401, 402] and read[-1] == 402
    rest = list(windows)
    assert len(rest) == 199 and rest[-1] == [597, 598, 599, 600, 601]


def test_segment_windows_report_a_short_input():
    with pytest.raises(ValueError, match="ended early"):
        list(segment_windows(iter(range(5)), Segment(0, 0, 10), 10, 5))


def _manifest(**options):
    return {"version": 1, "input": {"path": "/x/in.mp4", "size": 10}, "frames": 20,
            "options": {"crf": 18, "scale": 4, "model": "abc", **options},
            "segments": [[0, 10], [10, 20]]}


def test_job_folder_resumes_and_cleans_what_was_in_progress(tmp_path):
    job = JobFolder(tmp_path / "out.mp4")
    assert job.open(_manifest(), restart=False) == 0
    first, second = Segment(0, 0, 10), Segment(1, 10, 20)
    assert job.claim(first) and not job.claim(first)  # one process per segment
    job.segment_path(first).write_bytes(b"done")
    job.claim(second)
    job.report(second, 4, force=True)
    job.partial_path(second).write_bytes(b"half")
    assert job.frames_done([first, second]) == 14
    # A rerun: the finished segment counts, the claim and the half-written file are gone.
    assert job.open(_manifest(), restart=False) == 1
    assert not job.partial_path(second).exists()
    assert job.claim(second) and not job.claim(first)
    assert job.frames_done([first, second]) == 10


def test_job_folder_says_what_differs_and_restart_discards(tmp_path):
    job = JobFolder(tmp_path / "out.mp4")
    job.open(_manifest(), restart=False)
    job.segment_path(Segment(0, 0, 10)).write_bytes(b"done")
    with pytest.raises(JobMismatchError, match=r"crf was 18, now 23.*--restart"):
        job.open(_manifest(crf=23), restart=False)
    with pytest.raises(JobMismatchError, match="model's weights changed"):
        job.open(_manifest(model="def"), restart=False)
    assert job.open(_manifest(crf=23), restart=True) == 0
    assert json.loads(job.manifest_path.read_text())["options"]["crf"] == 23
    assert not job.segment_path(Segment(0, 0, 10)).exists()
