"""Resumable jobs on real files: segments joined equal one pass; a killed run resumes exactly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction

import av
import pytest
from video_testdata import video

from vsr.video import JobMismatchError, OpenCVBicubicProcessor, VideoError, transcode
from vsr.video.job import JOB_SUFFIX


def _contents(path):
    """Decoded frames (bytes), their timestamps, the streams, and the other streams' packets."""
    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="rgb24").tobytes()) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        video_stream = c.streams.video[0]
        streams = [(s.type, s.codec_context.name if s.codec_context else None,
                    s.metadata.get("language")) for s in c.streams]
        meta = (video_stream.time_base, video_stream.codec_context.sample_aspect_ratio)
        other = [(p.stream.index, p.pts, bytes(p)) for p in c.demux()
                 if p.stream.type != "video" and p.size]
    with av.open(str(path)) as c:
        rotation = next(c.decode(video=0)).rotation
    return frames, streams, meta, other, rotation


@pytest.mark.parametrize(
    ("name", "suffix", "segment_frames", "span"),
    [
        ("ffpy_in.mp4", ".mkv", 40, {}),  # AAC audio
        ("psd_goldeneye-vfr-drop3.mp4", ".mp4", 30, {}),  # variable frame rate, B-frames
        ("psd_issue-134-rotate.mp4", ".mp4", 40, {"end": 4.0}),  # rotation, MP4 edit lists
        ("psd_issue-236-split-copy.mkv", ".mkv", 15, {}),  # subtitles and attachments
        ("imageio_cockatoo.mp4", ".webm", 25, {"end": 2.5}),  # MP3 re-encoded to Opus
        ("psd_issue-195-aspect-ratio.mp4", ".mov", 50, {"start": 3.0, "end": 9.5}),
    ],
)
def test_segments_joined_equal_one_pass(tmp_path, name, suffix, segment_frames, span):
    src = video(name)
    codec = "libvpx-vp9" if suffix == ".webm" else "ffv1" if suffix == ".mkv" else "libx264"
    crf = {} if codec == "ffv1" else {"crf": 30}
    once = transcode(src, tmp_path / f"once{suffix}", OpenCVBicubicProcessor(1, 5), codec=codec,
                     segment_frames=0, **crf, **span)
    joined = transcode(src, tmp_path / f"joined{suffix}", OpenCVBicubicProcessor(1, 5), codec=codec,
                       segment_frames=segment_frames, **crf, **span)
    assert joined.frames == once.frames > segment_frames  # several segments
    a, b = _contents(once.output), _contents(joined.output)
    assert [pts for pts, _ in b[0]] == [pts for pts, _ in a[0]]  # every timestamp
    if codec == "ffv1":
        assert b[0] == a[0]  # lossless: identical frames
    assert b[1:] == a[1:]  # streams, time base and aspect, audio/subtitle packets, rotation
    assert not (tmp_path / f"joined{suffix}{JOB_SUFFIX}").exists()


def test_frame_folders_in_segments(tmp_path):
    src = video("mmagic_test_inference.mp4")
    once = transcode(src, tmp_path / "once", OpenCVBicubicProcessor(2, 3), segment_frames=0)
    joined = transcode(src, tmp_path / "joined", OpenCVBicubicProcessor(2, 3), segment_frames=2)
    names = sorted(p.name for p in joined.output.iterdir())
    assert names == sorted(p.name for p in once.output.iterdir()) and len(names) == 5
    for n in names:
        assert (joined.output / n).read_bytes() == (once.output / n).read_bytes()


# A run killed with SIGKILL at a chosen point (in its own process, so the kill is exact).
_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import vsr.video.job as job
    import vsr.video.segmented as segmented
    from vsr.video import OpenCVBicubicProcessor, transcode

    point, src, out = sys.argv[1:4]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class Processor(OpenCVBicubicProcessor):
        calls = 0

        def __call__(self, windows):
            Processor.calls += 1
            if point == "during a segment" and Processor.calls == 13:
                die()  # segment 1 (frames 10-19) has 2 frames queued for its file
            return super().__call__(windows)

    claim = job.JobFolder.claim
    claimed = []

    def claim_then_die(self, segment):
        if not claim(self, segment):
            return False
        claimed.append(segment)
        if point == "between segments" and len(claimed) == 3:
            die()  # segments 0 and 1 are done; 2 is claimed, not started
        return True

    def join_then_die(parts, first_pts, destination, *args):
        destination.write_bytes(b"half a file")
        die()

    job.JobFolder.claim = claim_then_die
    if point == "while joining":
        segmented.join_videos = join_then_die
    transcode(src, out, Processor(2, 5), codec="ffv1", segment_frames=10, end=2.0)
""")

_OPTIONS = {"codec": "ffv1", "segment_frames": 10, "end": 2.0}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "out.mkv"
    transcode(video("ffpy_in.mp4"), out, OpenCVBicubicProcessor(2, 5), **_OPTIONS)
    return _contents(out)


@pytest.mark.parametrize(
    ("point", "resumed"),
    [("during a segment", 10), ("between segments", 20), ("while joining", 60)],
)
def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path, uninterrupted, point, resumed):
    src, out = video("ffpy_in.mp4"), tmp_path / "out.mkv"
    script = tmp_path / "killed_run.py"
    script.write_text(_KILLED_RUN)
    run = subprocess.run([sys.executable, str(script), point, str(src), str(out)],
                         capture_output=True, text=True)
    assert run.returncode == -9, run.stderr
    assert not out.exists() and (tmp_path / f"out.mkv{JOB_SUFFIX}").is_dir()
    result = transcode(src, out, OpenCVBicubicProcessor(2, 5), **_OPTIONS)
    assert (result.frames, result.resumed) == (60, resumed)
    assert _contents(out) == uninterrupted  # frames, timestamps, audio: identical
    assert not (tmp_path / f"out.mkv{JOB_SUFFIX}").exists()


def test_changed_options_are_refused_until_restart(tmp_path):
    src, out = video("ffpy_in.mp4"), tmp_path / "out.mkv"
    script = tmp_path / "killed_run.py"
    script.write_text(_KILLED_RUN)
    subprocess.run([sys.executable, str(script), "between segments", str(src), str(out)],
                   capture_output=True)
    with pytest.raises(JobMismatchError, match=r"crf was 18, now 20.*--restart"):
        transcode(src, out, OpenCVBicubicProcessor(2, 5), **{**_OPTIONS, "crf": 20})
    with pytest.raises(JobMismatchError, match=r"scale was 2, now 3"):
        transcode(src, out, OpenCVBicubicProcessor(3, 5), **_OPTIONS)
    result = transcode(src, out, OpenCVBicubicProcessor(2, 5), **{**_OPTIONS, "crf": 20},
                       restart=True)
    assert (result.frames, result.resumed) == (60, 0)


def test_existing_output_is_refused_before_any_work(tmp_path):
    src, out = video("mmagic_test_inference.mp4"), tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(VideoError, match="already exists; pass --overwrite"):
        transcode(src, out, OpenCVBicubicProcessor(2))
    assert out.read_bytes() == b"keep me" and not (tmp_path / f"out.mp4{JOB_SUFFIX}").exists()


def _with_chapters(path):
    """A 2 s Matroska clip with two chapters and a title (no real file here has chapters)."""
    import numpy as np

    with av.open(str(path), "w") as c:
        stream = c.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        c.metadata["title"] = "A film"
        ms = Fraction(1, 1000)
        c.set_chapters([
            {"id": 1, "start": 0, "end": 1000, "time_base": ms, "metadata": {"title": "One"}},
            {"id": 2, "start": 1000, "end": 2000, "time_base": ms, "metadata": {"title": "Two"}},
        ])
        for i in range(50):
            image = np.full((48, 64, 3), i * 5, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(packet)
        for packet in stream.encode():
            c.mux(packet)
    return path


def _file_info(path):
    with av.open(str(path)) as c:
        chapters = [(ch["start"] * ch["time_base"], ch["end"] * ch["time_base"],
                     ch["metadata"].get("title")) for ch in c.chapters()]
        return chapters, c.metadata.get("title")


@pytest.mark.parametrize("segment_frames", [0, 10])
def test_chapters_and_title_are_kept(tmp_path, segment_frames):
    src = _with_chapters(tmp_path / "in.mkv")
    whole = transcode(src, tmp_path / "whole.mkv", OpenCVBicubicProcessor(2),
                      segment_frames=segment_frames)
    assert _file_info(whole.output) == ([(0, 1, "One"), (1, 2, "Two")], "A film")
    late = transcode(src, tmp_path / "late.mkv", OpenCVBicubicProcessor(2), start=1.2,
                     segment_frames=segment_frames)
    chapters, title = _file_info(late.output)
    assert [c[2] for c in chapters] == ["Two"] and chapters[0][0] == 0 and title == "A film"
