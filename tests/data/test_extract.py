"""vsr-prepare-videos (vsr.data.extract): real video files to a frame-folder training set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import shared_path
from vsr.data.extract import downscale_to, extract_video, main
from vsr.data.frames import FrameFolderSource
from vsr.errors import UserError
from vsr.video.clips import VideoClip
from vsr.video.files import list_images, read_image


@pytest.fixture
def short_clip() -> Path:
    """A real 320x240 H.264 clip of 36 frames."""
    return shared_path("videos", "imageio_realshort.mp4")


def test_frames_are_the_decoded_frames(short_clip: Path, tmp_path: Path) -> None:
    count = extract_video(short_clip, tmp_path / "clip", max_frames=7)
    assert count == 7
    written = np.stack([read_image(p) for p in list_images(tmp_path / "clip")])
    # The training reader's frames, decoded independently: the same pixels, losslessly.
    np.testing.assert_array_equal(written, VideoClip(short_clip).read(list(range(7))))


def test_downscale_is_an_area_average_to_the_short_side(short_clip: Path, tmp_path: Path) -> None:
    extract_video(short_clip, tmp_path / "clip", max_frames=3,
                  transform=lambda rgb: downscale_to(rgb, 120))
    frames = [read_image(p) for p in list_images(tmp_path / "clip")]
    assert [f.shape for f in frames] == [(120, 160, 3)] * 3
    decoded = VideoClip(short_clip).read([0, 1, 2])
    # A 2x area downscale is the mean of each 2x2 block (OpenCV rounds half up).
    blocks = decoded.reshape(3, 120, 2, 160, 2, 3).astype(np.float64).mean(axis=(2, 4))
    assert np.abs(np.stack(frames) - blocks).max() <= 0.5 + 1e-9
    # Frames already small enough are kept as they are.
    small = np.zeros((100, 300, 3), np.uint8)
    assert downscale_to(small, 120) is small and downscale_to(small, None) is small
    assert downscale_to(np.zeros((720, 1280, 3), np.uint8), 360).shape == (360, 640, 3)


def test_a_rerun_with_fewer_frames_leaves_no_stale_ones(short_clip: Path, tmp_path: Path) -> None:
    extract_video(short_clip, tmp_path / "clip", max_frames=6)
    extract_video(short_clip, tmp_path / "clip", max_frames=4)
    assert [p.name for p in list_images(tmp_path / "clip")] == [f"{i:05d}.png" for i in range(4)]
    # A file that cannot be decoded keeps the frames already there.
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(UserError):
        extract_video(broken, tmp_path / "clip")
    assert len(list_images(tmp_path / "clip")) == 4


def test_jpeg_frames_are_close_to_the_decoded_frames_and_smaller(short_clip: Path,
                                                                 tmp_path: Path) -> None:
    extract_video(short_clip, tmp_path / "png", max_frames=3)
    count = extract_video(short_clip, tmp_path / "clip", max_frames=3, jpeg_quality=95)
    assert count == 3
    jpegs = list_images(tmp_path / "clip")
    assert [p.name for p in jpegs] == ["00000.jpg", "00001.jpg", "00002.jpg"]
    decoded = VideoClip(short_clip).read([0, 1, 2]).astype(np.float64)
    written = np.stack([read_image(p) for p in jpegs]).astype(np.float64)
    psnr = 10 * np.log10(255**2 / np.mean((written - decoded) ** 2))
    assert 38 < psnr < 60  # lossy, but far below what the degradations take away
    png_bytes = sum(p.stat().st_size for p in list_images(tmp_path / "png"))
    assert sum(p.stat().st_size for p in jpegs) < png_bytes / 2
    # A PNG re-run replaces the JPEG frames rather than mixing the two.
    extract_video(short_clip, tmp_path / "clip", max_frames=2)
    assert [p.name for p in list_images(tmp_path / "clip")] == ["00000.png", "00001.png"]


def test_command_extracts_folders_skips_and_trains_from_the_result(
    short_clip: Path, tmp_path: Path, capsys
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4", "held.mp4"):
        (videos / name).symlink_to(short_clip.resolve())
    out = tmp_path / "frames"
    assert main([str(videos), str(out), "--max-frames", "5", "--max-short-side", "60",
                 "--skip", "held.mp4"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]
    assert "a.mp4: 5 frames" in capsys.readouterr().out
    clips = FrameFolderSource(out, split="all").clips()
    assert [(c.name, c.num_frames) for c in clips] == [("a", 5), ("b", 5)]
    assert clips[0].read([0])[0].shape == (60, 80, 3)


def test_uncompressed_frames_are_the_png_pixels_and_train_the_same(short_clip: Path,
                                                                    tmp_path: Path) -> None:
    extract_video(short_clip, tmp_path / "png" / "clip", max_frames=6)
    assert main([str(short_clip), str(tmp_path / "bmp"), "--max-frames", "6",
                 "--uncompressed"]) == 0
    bmps = list_images(tmp_path / "bmp" / short_clip.stem)
    assert [p.name for p in bmps] == [f"{i:05d}.bmp" for i in range(6)]
    pngs = list_images(tmp_path / "png" / "clip")
    np.testing.assert_array_equal(np.stack([read_image(p) for p in bmps]),
                                  np.stack([read_image(p) for p in pngs]))
    # The frame-folder source reads them as it reads PNG.
    clip = FrameFolderSource(tmp_path / "bmp").clips()[0]
    np.testing.assert_array_equal(clip.read([2, 3]), np.stack([read_image(p) for p in pngs[2:4]]))
    # A PNG re-run replaces them rather than mixing the two formats.
    extract_video(short_clip, tmp_path / "bmp" / short_clip.stem, max_frames=2)
    assert [p.name for p in list_images(tmp_path / "bmp" / short_clip.stem)] == [
        "00000.png", "00001.png"]


def test_command_errors_are_one_line_and_write_nothing(short_clip: Path, tmp_path: Path,
                                                        capsys) -> None:
    out = tmp_path / "frames"
    assert main([str(tmp_path / "missing.mp4"), str(out)]) == 1
    assert "missing.mp4 is neither a video file nor a folder" in capsys.readouterr().err
    twin = tmp_path / "other"
    twin.mkdir()
    (twin / short_clip.name).symlink_to(short_clip.resolve())
    assert main([str(short_clip), str(twin / short_clip.name), str(out)]) == 1
    assert "several videos are named imageio_realshort" in capsys.readouterr().err
    assert main([str(short_clip), str(out), "--max-frames", "0"]) == 1
    assert main([str(short_clip), str(out), "--jpeg-quality", "101"]) == 1
    assert "--jpeg-quality must be between 1 and 100, got 101" in capsys.readouterr().err
    assert main([str(short_clip), str(out), "--jpeg-quality", "95", "--uncompressed"]) == 1
    assert "--jpeg-quality and --uncompressed exclude each other" in capsys.readouterr().err
    assert not out.exists()
