"""Frame-exact clip I/O: every frame, in order, on time, with the same colours everywhere.

Checked on generated files with the timing cases users' files have (B-frames in AVI, a late
start, an MP4 edit list, a repeated timestamp, variable frame rate, open GOPs, a raw stream
without timestamps) and on every real clip in ../shared/data/videos:

(a) ``vsr-upscale``'s pipeline (bicubic) writes exactly the input's frames in order, each
    within half a frame of its time, with the audio;
(b) the training reader's frame ``i`` equals the ``i``-th frame of a plain linear decode;
(c) a BT.709 pattern decodes to the same RGB in training and in ``vsr-upscale``.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import Colorspace
from awkward_videos import FRAMES, GENERATORS, RATE, Awkward, pattern
from video_testdata import VIDEOS, decode_reference

from vsr.data.frames import FrameFolderSource
from vsr.data.videos import VideoSource
from vsr.evaluation.datasets import find_clips
from vsr.video import OpenCVBicubicProcessor, VideoError, transcode
from vsr.video.access import VideoFile
from vsr.video.clips import VideoClip
from vsr.video.colour import ColourInfo, frame_to_rgb, rgb_to_frame
from vsr.video.files import list_images, list_videos, read_image
from vsr.video.index import clear_index_cache, derive_pts, index_video
from vsr.video.metadata import probe

#: The rule each generated case must be indexed with.
RULES = {
    "avi_bframes": "sorted",
    "late_start": "pts",
    "late_video_with_audio": "pts",
    "edit_list": "pts",
    "duplicate_timestamps": "rate",
    "variable_rate": "pts",
    "open_gop": "pts",
    "open_gop_mp4": "pts",
    "raw_h264": "rate",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Awkward]:
    folder = tmp_path_factory.mktemp("awkward")
    return {name: make(folder) for name, make in GENERATORS.items()}


def linear_decode(path: Path) -> list[np.ndarray]:
    """The reference: a plain PyAV decode of every frame, converted with the file's colours."""
    colour = probe(path).colour
    with av.open(str(path)) as container:
        return [frame_to_rgb(f, colour) for f in container.decode(video=0)]


def decode_output(path: Path) -> tuple[list[np.ndarray], list[float], float]:
    """Frames, their times and the container's start (seconds) of a written file."""
    with av.open(str(path)) as container:
        start = (container.start_time or 0) / av.time_base
        frames, times = [], []
        for f in container.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * f.time_base))
    return frames, times, start


def audio_span(path: Path) -> tuple[float, float] | None:
    """(first, last) audio packet time in seconds, or None without audio."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        times = [
            float(p.pts * p.time_base)
            for p in container.demux(audio=0)
            if p.pts is not None and p.size
        ]
    return min(times), max(times)


def nearest_pattern(image: np.ndarray) -> tuple[int, float]:
    """Which generated frame ``image`` (any size) shows, and how far it is from it."""
    small = cv2.resize(image, (pattern(0).shape[1], pattern(0).shape[0]),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    errors = [float(np.abs(small - pattern(i)).mean()) for i in range(FRAMES)]
    best = int(np.argmin(errors))
    return best, errors[best]


# --------------------------------------------------------------------------------------------
# Generated awkward files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(GENERATORS))
def test_index_numbers_and_times_every_frame(generated, case, caplog):
    awkward = generated[case]
    clear_index_cache()
    with caplog.at_level(logging.DEBUG, logger="vsr.video"):
        index = index_video(awkward.path)
    assert f"rule={RULES[case]}" in caplog.text  # the debug log names the rule applied
    assert index.num_frames == FRAMES == len(linear_decode(awkward.path))
    half_frame = 0.5 / RATE
    for i, expected in enumerate(awkward.times):
        assert abs(index.position(i) - expected) < half_frame, (case, i)
    assert all(b > a for a, b in zip(index.pts, index.pts[1:], strict=False))


@pytest.mark.parametrize("case", list(GENERATORS))
def test_training_reader_matches_linear_decode(generated, case):
    awkward = generated[case]
    reference = linear_decode(awkward.path)
    # The decode itself is right too: frame i shows the i-th pattern written.
    assert [nearest_pattern(f)[0] for f in reference] == list(range(FRAMES))
    clip = VideoClip(awkward.path, cache_frames=6)
    rng = np.random.default_rng(15)
    starts = [*rng.integers(0, FRAMES - 5, size=8), FRAMES - 5, 0, 9, 3]  # back and forth
    for start in starts:
        window = clip.read(list(range(start, start + 5)))
        for k in range(5):
            np.testing.assert_array_equal(window[k], reference[start + k], err_msg=f"{start + k}")
    clone = pickle.loads(pickle.dumps(clip))  # a DataLoader worker's copy decodes on its own
    np.testing.assert_array_equal(clone.read([FRAMES - 1])[0], reference[-1])
    clip.close()


@pytest.mark.parametrize("case", list(GENERATORS))
def test_upscale_writes_every_frame_on_time_with_audio(generated, case, tmp_path):
    awkward = generated[case]
    out = tmp_path / "out.mkv"
    result = transcode(awkward.path, out, OpenCVBicubicProcessor(scale=2))
    frames, times, start = decode_output(out)
    assert result.frames == len(frames) == FRAMES
    for i, frame in enumerate(frames):
        shown, error = nearest_pattern(frame)
        assert shown == i and error < 8, (case, i, shown, error)
    # The whole timeline may move by an AAC encoder delay (a copied priming packet before 0
    # makes the muxer shift everything by up to 1024 samples); frames keep their spacing.
    shift = times[0] - start - awkward.times[0]
    assert abs(shift) < 0.025, (case, shift)
    half_frame = 0.5 / RATE
    for i, (time, expected) in enumerate(zip(times, awkward.times, strict=True)):
        assert abs(time - start - shift - expected) < half_frame, (case, i, time, expected)
    if awkward.has_audio:
        first, last = audio_span(out)
        source_first, source_last = audio_span(awkward.path)
        source_video = index_video(awkward.path).time(0)
        # In sync: the video starts as long after the audio as in the input.
        assert abs((times[0] - first) - (source_video - source_first)) < half_frame
        assert abs((last - first) - (source_last - source_first)) < 0.05


def test_end_counts_from_the_start_of_a_video_only_file_that_starts_late(generated, tmp_path):
    """Video alone from 1.0 s: the file starts there, so --end 0.5 is its first 0.5 s, and
    the output keeps the 1.0 s start."""
    out = tmp_path / "late.mkv"
    result = transcode(generated["late_start"].path, out, OpenCVBicubicProcessor(2), end=0.5)
    assert result.frames == 12
    frames, times, _ = decode_output(out)
    assert [nearest_pattern(f)[0] for f in frames] == list(range(12))
    assert abs(times[0] - 1.0) < 0.5 / RATE


def test_start_end_are_positions_in_the_file(generated, tmp_path):
    """Audio from 0 s, video from 1.0 s: positions count from the file's start (0)."""
    source = generated["late_video_with_audio"].path
    with pytest.raises(VideoError, match=r"no frames in \[0, 0.5\) s from the start of "
                       r"the file; its 24 video frames lie at 1.000-1.958 s"):
        transcode(source, tmp_path / "none.mkv", OpenCVBicubicProcessor(2), end=0.5)
    assert not (tmp_path / "none.mkv").exists()
    out = tmp_path / "cut.mkv"
    assert transcode(source, out, OpenCVBicubicProcessor(2), start=0.5, end=1.5).frames == 12
    frames, times, _ = decode_output(out)
    assert [nearest_pattern(f)[0] for f in frames] == list(range(12))
    # Everything moves back by the 0.5 s cut: video at 0.5 s, audio from 0.
    assert abs(times[0] - 0.5) < 0.5 / RATE
    first, last = audio_span(out)
    assert first < 0.05 and abs(last - 1.0) < 0.05


def test_end_on_b_frames_in_avi_drops_nothing(generated, tmp_path):
    """The reported case: B-frames in AVI with --end 0.5 lost 3 of 12 frames. The frames are
    stamped 1/24 s after the file's start, so [0, 0.5) holds frames 0-10."""
    out = tmp_path / "avi.mkv"
    result = transcode(generated["avi_bframes"].path, out, OpenCVBicubicProcessor(2), end=0.5)
    assert result.frames == 11
    frames, _, _ = decode_output(out)
    assert [nearest_pattern(f)[0] for f in frames] == list(range(11))


def test_unreadable_video_is_one_error_naming_the_file(tmp_path):
    bad = tmp_path / "clip.avi"
    bad.write_bytes(b"RIFF" + b"\x00" * 200)
    for read in (index_video, VideoClip, lambda p: VideoSource(p).clips()):
        with pytest.raises(VideoError, match=r"clip.avi"):
            read(bad)
    with pytest.raises(VideoError, match=r"input not found: .*missing.mp4"):
        VideoClip(tmp_path / "missing.mp4")
    (tmp_path / "frame.png").write_bytes(b"not a png")
    with pytest.raises(VideoError, match=r"cannot read image .*frame.png"):
        read_image(tmp_path / "frame.png")


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------


def _bt709_bars(path: Path) -> None:
    """Saturated colour blocks stored as BT.709 limited-range 4:4:4 (lossless)."""
    colour = ColourInfo(matrix=1, range=1, primaries=1, trc=1)
    colours = [(235, 30, 30), (30, 220, 40), (40, 40, 230), (240, 240, 20), (20, 230, 230),
               (230, 30, 230), (128, 128, 128), (250, 250, 250)]
    image = np.zeros((48, 64, 3), np.uint8)
    for k, rgb in enumerate(colours):
        image[(k // 4) * 24 : (k // 4 + 1) * 24, (k % 4) * 16 : (k % 4 + 1) * 16] = rgb
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        stream.options = {"qp": "0", "preset": "ultrafast"}
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc = 1, 1, 1, 1
        for i in range(6):
            frame = rgb_to_frame(np.roll(image, 4 * i, axis=1), "yuv444p", colour)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_bt709_pattern_same_rgb_in_training_and_upscaling(tmp_path):
    source = tmp_path / "bars709.mkv"
    _bt709_bars(source)
    training = VideoClip(source).read(list(range(6)))
    out = tmp_path / "frames"
    transcode(source, out, OpenCVBicubicProcessor(scale=1))
    upscaled = np.stack([read_image(p) for p in list_images(out)])
    np.testing.assert_array_equal(training, upscaled)
    # Both follow the BT.709 formula; BT.601 (swscale's default for untagged frames) is far.
    reference = np.stack(decode_reference(source, "bt709"))
    assert np.abs(training.astype(float) - reference).max() <= 1.5
    with av.open(str(source)) as container:
        bt601 = np.stack([
            f.reformat(format="rgb24", src_colorspace=Colorspace.ITU601).to_ndarray()
            for f in container.decode(video=0)
        ])
    assert np.abs(bt601.astype(float) - reference).max() > 10


# --------------------------------------------------------------------------------------------
# Natural order
# --------------------------------------------------------------------------------------------


def test_natural_order_everywhere(tmp_path):
    clip = tmp_path / "frames" / "walk"
    clip.mkdir(parents=True)
    for number in (10, 2, 1):
        cv2.imwrite(str(clip / f"frame{number}.png"), pattern(number)[..., ::-1])
    expected = ["frame1.png", "frame2.png", "frame10.png"]
    assert [p.name for p in list_images(clip)] == expected
    # vsr-upscale on a frame folder (and its probe of the first frame).
    out = tmp_path / "up"
    transcode(clip, out, OpenCVBicubicProcessor(scale=1))
    shown = [nearest_pattern(read_image(p))[0] for p in list_images(out)]
    assert shown == [1, 2, 10]
    assert probe(clip).width == 64
    # Training and evaluation.
    train_clip = FrameFolderSource(tmp_path / "frames").clips()[0]
    assert [nearest_pattern(f)[0] for f in train_clip.read([0, 1, 2])] == [1, 2, 10]
    assert [p.name for p in find_clips(tmp_path / "frames", "folders")[0].gt_frames] == expected
    # Folders of videos.
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("clip10.mp4", "clip2.mp4", "Clip1.mp4"):
        (videos / name).touch()
    assert [p.name for p in list_videos(videos)] == ["Clip1.mp4", "clip2.mp4", "clip10.mp4"]


# --------------------------------------------------------------------------------------------
# Every real clip in ../shared/data/videos
# --------------------------------------------------------------------------------------------

REAL = sorted(p.name for p in VIDEOS.iterdir()) if VIDEOS.is_dir() else ["(absent)"]
#: Upscale the whole file below this many pixels (frames x width x height), else a 1 s
#: segment from the middle (which also exercises --start with audio).
WHOLE_FILE_PIXELS = 25_000_000


def real_video(name: str) -> Path:
    if not VIDEOS.is_dir():
        pytest.skip(f"real test videos are absent: {VIDEOS} (../shared/data beside the repo)")
    return VIDEOS / name


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_training_reader_matches_linear_decode(name):
    path = real_video(name)
    colour = probe(path).colour
    with av.open(str(path)) as container:
        reference = [_digest(frame_to_rgb(f, colour)) for f in container.decode(video=0)]
    clip = VideoClip(path, cache_frames=8)
    assert clip.num_frames == len(reference)
    rng = np.random.default_rng(len(name))
    n = clip.num_frames
    for start in [*rng.integers(0, max(n - 5, 1), size=6), max(n - 5, 0), 0]:
        indices = list(range(start, min(start + 5, n)))
        window = clip.read(indices)
        assert [_digest(f) for f in window] == [reference[i] for i in indices], name
    clip.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_real_upscale_writes_every_frame_on_time_with_audio(name, tmp_path):
    path = real_video(name)
    colour = probe(path).colour
    with av.open(str(path)) as container:
        file_start = (container.start_time or 0) / av.time_base
        decoded = [(float(f.pts * f.time_base) - file_start, f) for f in container.decode(video=0)]
        times = [t for t, _ in decoded]
        rate = float(container.streams.video[0].average_rate or 25)
        h, w = decoded[0][1].height, decoded[0][1].width
        start = end = None
        if len(decoded) * w * h > WHOLE_FILE_PIXELS:
            start = times[len(times) // 2]
            end = start + 1.0
        wanted = [i for i, t in enumerate(times)
                  if (start is None or t >= start - 1e-6) and (end is None or t < end - 1e-6)]
        reference = {i: frame_to_rgb(decoded[i][1], colour) for i in wanted}
        del decoded
    out = tmp_path / "out.mkv"
    # Lossless 4:4:4 output: a frame comes back within the rounding of limited-range YUV.
    result = transcode(path, out, OpenCVBicubicProcessor(scale=1), start=start, end=end,
                       codec="ffv1", pix_fmt="yuv444p")
    frames, out_times, _ = decode_output(out)
    assert result.frames == len(frames) == len(wanted), name
    offset = start or 0.0
    for k, i in enumerate(wanted):
        cropped = reference[i][: frames[k].shape[0], : frames[k].shape[1]]
        assert np.abs(frames[k].astype(np.int16) - cropped).mean() <= 1.5, (name, i)
        shift = 0.0 if start is None else file_start
        assert abs(out_times[k] + shift + offset - (times[i] + file_start)) < 0.5 / rate, (name, i)
    source_audio = audio_span(path)
    if source_audio is not None:
        assert audio_span(out) is not None, f"{name}: audio lost"


def test_timestamp_rules_on_raw_values():
    tb, rate = Fraction(1, 1000), Fraction(25)
    assert derive_pts([0, 40, 120, 160], rate, tb) == ([0, 40, 120, 160], "pts")  # VFR kept
    # Decode-order values within a B-frame reordering: sorted.
    assert derive_pts([1, 3, 4, 2, 6, 5], rate, tb) == ([1, 2, 3, 4, 5, 6], "sorted")
    # Repeated, missing, or unique but far out of order (a spliced file): frame rate.
    assert derive_pts([0, 40, 40, 120], rate, tb) == ([0, 40, 80, 120], "rate")
    assert derive_pts([None, None, None], rate, tb) == ([0, 40, 80], "rate")
    spliced = [*range(1000, 1000 + 40 * 20, 40), *range(0, 40 * 20, 40)]
    assert derive_pts(spliced, rate, tb) == ([40 * i for i in range(40)], "rate")


def test_a_seek_that_lands_late_is_retried_without_losing_audio(generated, tmp_path,
                                                                monkeypatch):
    """Demuxers whose index counts in decode time can land after the keyframe asked for;
    the read is retried from earlier, and the audio read by the failed try is not kept."""
    source = generated["edit_list"]
    index = index_video(source.path)
    real_open_at = VideoFile._open_at
    tries: list[int | None] = []

    def lands_late(self, keyframe):
        tries.append(keyframe)
        if keyframe is not None and len(tries) == 1:
            later = index.keyframes[index.keyframes.index(keyframe) + 1]
            return real_open_at(self, later)  # positioned one GOP too late
        return real_open_at(self, keyframe)

    monkeypatch.setattr(VideoFile, "_open_at", lands_late)
    out = tmp_path / "cut.mkv"
    assert transcode(source.path, out, OpenCVBicubicProcessor(2), start=0.5).frames == 12
    assert tries[0] == 8 and tries[1] is None  # the late try, then from the start
    frames, times, _ = decode_output(out)
    assert [nearest_pattern(f)[0] for f in frames] == list(range(12, 24))
    first, last = audio_span(out)
    source_first, source_last = audio_span(source.path)
    assert first < 0.05 and abs(last - (source_last - 0.5)) < 0.05
