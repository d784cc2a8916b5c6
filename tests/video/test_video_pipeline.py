"""End-to-end streaming runs on real clips with the bicubic processor: what must be kept."""

from __future__ import annotations

import shutil
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from video_testdata import data_path, frame_times, video

from vsr.video import OpenCVBicubicProcessor, VideoError, frame_to_rgb, rgb_to_frame, transcode
from vsr.video.processors import opencv_bicubic
from vsr.video.reader import open_reader


def _decode(path, **kw) -> list[np.ndarray]:
    reader = open_reader(path, **kw)
    try:
        return [f.image for f in reader.frames()]
    finally:
        reader.close()


def test_tiny_clip_end_to_end(tmp_path):
    src = video("mmagic_test_inference.mp4")
    out = tmp_path / "out.mp4"
    result = transcode(src, out, OpenCVBicubicProcessor(scale=4, num_frames=5), crf=0)
    assert result.frames == 5 and out.exists()
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (s.width, s.height, s.average_rate) == (256, 256, 25)
    assert frame_times(out) == pytest.approx(frame_times(src), abs=1e-6)
    got = _decode(out)
    want = [opencv_bicubic(f, 4) for f in _decode(src)]
    colour = open_reader(out).info.colour
    for g, w in zip(got, want, strict=True):
        # crf 0 is lossless: only the RGB -> 4:2:0 -> RGB round trip differs.
        w420 = frame_to_rgb(rgb_to_frame(w, "yuv420p", colour), colour)
        assert np.abs(g.astype(int) - w420).max() <= 2


def test_audio_kept_and_in_sync(tmp_path):
    src = video("ffpy_in.mp4")
    out = tmp_path / "out.mkv"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), end=1.0)
    times = frame_times(out)
    assert len(times) == 30  # 29.97 fps: frames at 0 .. 0.967 s
    frame = 1001 / 30000
    with av.open(str(out)) as c, av.open(str(src)) as ref:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == ref.streams.audio[0].codec_context.name
        packets = [p for p in c.demux(audio) if p.pts is not None]
        audio_end = float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base)
        # Copied, not re-encoded: the bytes of the first packet are the input's.
        first_ref = next(p for p in ref.demux(ref.streams.audio[0]) if p.pts is not None)
        assert bytes(packets[0]) == bytes(first_ref)
    video_end = times[-1] + frame
    assert abs(audio_end - video_end) <= frame


def test_vfr_timestamps_kept(tmp_path):
    src = video("psd_goldeneye-vfr-drop3.mp4")
    out = tmp_path / "out.mp4"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), start=1.0, end=2.0)
    want = [t - 1.0 for t in frame_times(src) if 1.0 - 1e-6 <= t < 2.0 - 1e-6]
    got = frame_times(out)
    assert got == pytest.approx(want, abs=1e-4)
    gaps = np.diff(got)
    assert gaps.max() > 0.08 and gaps.min() < 0.05  # still variable: 41.7 and 83.4 ms


def test_rotation_kept_as_metadata(tmp_path):
    src = video("psd_issue-134-rotate.mp4")
    out = tmp_path / "out.mp4"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), end=0.2)
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert frame.rotation == -90
        assert (frame.width, frame.height) == (1280, 544)  # pixels are not turned


def test_sample_aspect_ratio_kept(tmp_path):
    src = video("psd_issue-195-aspect-ratio.mp4")
    out = tmp_path / "out.mov"
    transcode(src, out, OpenCVBicubicProcessor(scale=2), end=0.2)
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.sample_aspect_ratio == Fraction(16, 11)
        assert (s.width, s.height) == (1408, 1152)


def test_mkv_subtitles_and_attachments_kept(tmp_path):
    src = video("psd_issue-236-split-copy.mkv")
    out = tmp_path / "out.mkv"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), end=0.2)
    with av.open(str(out)) as c, av.open(str(src)) as ref:
        subs = [(s.codec_context.name, s.metadata.get("language"), s.metadata.get("title"),
                 bytes(s.codec_context.extradata or b"")) for s in c.streams.subtitles]
        want = [(s.codec_context.name, s.metadata.get("language"), s.metadata.get("title"),
                 bytes(s.codec_context.extradata or b"")) for s in ref.streams.subtitles]
        assert subs == want and len(subs) == 3
        fonts = [s.metadata.get("filename") for s in c.streams if s.type == "attachment"]
        assert fonts == [s.metadata.get("filename") for s in ref.streams
                         if s.type == "attachment"]
        assert c.streams.audio[0].metadata.get("language") == "jpn"


def test_audio_reencoded_for_webm(tmp_path):
    src = video("imageio_realshort.mp4")
    out = tmp_path / "out.webm"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), end=0.3)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
        assert c.streams.audio[0].codec_context.name in ("opus", "libopus")
        frames = list(c.decode(audio=0))
        assert sum(f.samples for f in frames) / frames[0].sample_rate > 0.2


def test_frame_folder_in_and_out(tmp_path):
    src = data_path("lr_clips", "reds_000_x4")
    out = tmp_path / "frames"
    result = transcode(src, out, OpenCVBicubicProcessor(scale=2, num_frames=3), end=3 / 25)
    files = sorted(out.iterdir())
    assert result.frames == 3 and [f.name for f in files] == [
        "00000000.png", "00000001.png", "00000002.png"]
    for i, f in enumerate(files):
        lr = cv2.imread(str(src / f"{i:08d}.png"))[..., ::-1]
        got = cv2.imread(str(f))[..., ::-1]
        np.testing.assert_array_equal(got, opencv_bicubic(lr, 2))  # PNG is lossless: exact


def test_frame_folder_to_video_uses_fps(tmp_path):
    src = data_path("lr_clips", "reds_000_x4")
    out = tmp_path / "clip.mp4"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), fps=10, end=0.5)
    times = frame_times(out)
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_unknown_frame_count_shows_progress_without_crash(tmp_path, capsys):
    src = video("psd_issue-236-split-copy.mkv")  # Matroska: no frame count in the header
    reader = open_reader(src)
    assert reader.info.frames is None
    reader.close()
    result = transcode(src, tmp_path / "o.mkv", OpenCVBicubicProcessor(scale=1), end=0.1,
                       quiet=False)
    assert result.frames == 3


def test_corrupt_packets_skipped_timing_kept(tmp_path, caplog):
    src = tmp_path / "corrupt.mp4"
    shutil.copy(video("imageio_realshort.mp4"), src)
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    middle = len(data) // 2
    data[middle : middle + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    src.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    with caplog.at_level("WARNING", logger="vsr.video"):
        transcode(src, out, OpenCVBicubicProcessor(scale=1))
    assert "skipped an undecodable packet" in caplog.text
    # Whatever frames survive keep their own timestamps (no renumbering to a fixed rate).
    want = []
    with av.open(str(src)) as c:
        for packet in c.demux(video=0):
            try:
                want += [float(f.pts * f.time_base) for f in packet.decode()]
            except av.FFmpegError:
                pass
    assert frame_times(out) == pytest.approx(sorted(want), abs=1e-4)
    assert len(want) >= 30


# ----------------------------------------------------------------------- errors


def test_missing_input(tmp_path):
    with pytest.raises(VideoError, match="input not found"):
        transcode(tmp_path / "nope.mp4", tmp_path / "o.mp4", OpenCVBicubicProcessor())


def test_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello, not a video\n" * 50)
    with pytest.raises(VideoError, match="not a video file"):
        transcode(bad, tmp_path / "o.mp4", OpenCVBicubicProcessor())
    assert not (tmp_path / "o.mp4").exists()


def test_zero_frames(tmp_path):
    src = video("mmagic_test_inference.mp4")  # 0.2 s long
    out = tmp_path / "o.mp4"
    with pytest.raises(
        VideoError, match=r"no frames in \[5, 6\) s from the start of the file; its 5 "
        r"video frames lie at 0.000-0.160 s"
    ):
        transcode(src, out, OpenCVBicubicProcessor(), start=5.0, end=6.0)
    assert list(tmp_path.iterdir()) == []


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no image frames"):
        transcode(tmp_path / "empty", tmp_path / "o.mp4", OpenCVBicubicProcessor())


def test_unsupported_codec(tmp_path):
    src = video("mmagic_test_inference.mp4")
    with pytest.raises(VideoError, match="unsupported codec 'nope'"):
        transcode(src, tmp_path / "o.mp4", OpenCVBicubicProcessor(), codec="nope")
    with pytest.raises(VideoError, match="cannot be stored"):
        transcode(src, tmp_path / "o.webm", OpenCVBicubicProcessor(), codec="libx265")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path):
    src = video("mmagic_test_inference.mp4")
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(VideoError, match="already exists; pass --overwrite"):
        transcode(src, out, OpenCVBicubicProcessor(scale=1))
    assert out.read_bytes() == b"keep me"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), overwrite=True)
    assert len(frame_times(out)) == 5


def test_unwritable_destination(tmp_path):
    src = video("mmagic_test_inference.mp4")
    with pytest.raises(VideoError, match="does not exist"):
        transcode(src, tmp_path / "missing" / "o.mp4", OpenCVBicubicProcessor())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VideoError, match="cannot write"):
        transcode(src, blocker / "o.mp4", OpenCVBicubicProcessor())


def test_unknown_output_extension(tmp_path):
    with pytest.raises(VideoError, match="unsupported output extension"):
        transcode(video("mmagic_test_inference.mp4"), tmp_path / "o.xyz", OpenCVBicubicProcessor())


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
@pytest.mark.parametrize("name", ["o.mp4", "frames"])
def test_failure_midway_leaves_nothing(tmp_path, error, name):
    src = video("mmagic_test_inference.mp4")
    calls = 0

    def failing(windows):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise error
        return OpenCVBicubicProcessor(2)(windows)

    failing.num_frames, failing.scale = 3, 2
    with pytest.raises(type(error)):
        transcode(src, tmp_path / name, failing)
    assert calls == 3
    assert list(tmp_path.iterdir()) == []


def test_threaded_encoding_same_result(tmp_path):
    src = video("imageio_realshort.mp4")
    outs = []
    for threaded in (False, True):
        out = tmp_path / f"o{threaded}.mkv"
        transcode(src, out, OpenCVBicubicProcessor(scale=1), end=0.5, threaded=threaded, crf=0)
        with av.open(str(out)) as c:
            audio = [bytes(p) for p in c.demux(audio=0) if p.size]
        outs.append((_decode(out), frame_times(out), audio))
    (frames_a, times_a, audio_a), (frames_b, times_b, audio_b) = outs
    assert times_a == times_b and audio_a == audio_b
    assert len(frames_a) == len([t for t in frame_times(src) if t < 0.5 - 1e-6])
    for a, b in zip(frames_a, frames_b, strict=True):
        np.testing.assert_array_equal(a, b)


def test_error_in_encoder_thread_reaches_caller(tmp_path, monkeypatch):
    from vsr.video.writer import VideoFileWriter

    calls = 0
    original = VideoFileWriter.write

    def failing(self, image, pts):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise VideoError("disk full (simulated)")
        original(self, image, pts)

    monkeypatch.setattr(VideoFileWriter, "write", failing)
    with pytest.raises(VideoError, match="disk full"):
        transcode(video("imageio_realshort.mp4"), tmp_path / "o.mp4", OpenCVBicubicProcessor(1))
    assert list(tmp_path.iterdir()) == []


def test_odd_output_size_cropped_to_even(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:03d}.png"), rng.integers(0, 256, (21, 33, 3), np.uint8))
    out = tmp_path / "o.mp4"
    transcode(folder, out, OpenCVBicubicProcessor(scale=3))
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (98, 62)
    # A folder of PNGs has no chroma subsampling: nothing is cropped there.
    transcode(folder, tmp_path / "frames", OpenCVBicubicProcessor(scale=3))
    assert cv2.imread(str(tmp_path / "frames" / "00000000.png")).shape == (63, 99, 3)


def test_audio_in_sync_after_start(tmp_path):
    src = video("ffpy_in.mp4")
    out = tmp_path / "seg.mp4"
    transcode(src, out, OpenCVBicubicProcessor(scale=1), start=2.0, end=3.0)
    times = frame_times(out)
    frame = 1001 / 30000
    assert times[0] == pytest.approx(
        min(t for t in frame_times(src) if t >= 2.0 - 1e-6) - 2.0, abs=1e-4)
    with av.open(str(out)) as c:
        packets = [p for p in c.demux(audio=0) if p.pts is not None]
        first = float(packets[0].pts * packets[0].time_base)
        last = float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base)
    assert abs(first - times[0]) <= frame
    assert abs(last - (times[-1] + frame)) <= frame


def test_overwrite_replaces_a_file_or_a_folder(tmp_path):
    src = video("mmagic_test_inference.mp4")
    target = tmp_path / "out"
    target.write_text("an old file where the frames should go")
    transcode(src, target, OpenCVBicubicProcessor(scale=1), overwrite=True)
    assert sorted(p.name for p in target.iterdir())[-1] == "00000004.png"
    transcode(src, target, OpenCVBicubicProcessor(scale=1), overwrite=True, end=0.08)
    assert len(list(target.iterdir())) == 2  # old frames are gone, not mixed in
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_frame_totals_known_estimated_or_unknown(capsys):
    from vsr.video.metadata import VideoInfo
    from vsr.video.progress import FrameProgress

    info = VideoInfo(path=None, width=8, height=8, pix_fmt="yuv420p", time_base=Fraction(1, 25),
                     rate=Fraction(25), frames=None, duration=None)
    assert info.estimated_frames() is None  # no count, no duration: unknown
    assert info.estimated_frames(0.0, 2.0) == 50
    info.duration = 3.0
    assert info.estimated_frames() == 75 and info.estimated_frames(1.0, 10.0) == 50
    info.frames = 74
    assert info.estimated_frames() == 74  # the header's count wins when untrimmed
    with FrameProgress("x", None, quiet=False) as progress:  # unknown total: no crash
        for _ in range(3):
            progress.advance()
    assert progress.done == 3
