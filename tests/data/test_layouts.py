"""Vimeo-90K (real septuplets), frame folders and video files (real files)."""

from __future__ import annotations

import pickle
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.helpers import shared_path, textured_frame, write_rgb
from vsr.data.datasets import TrainDataset, ValDataset
from vsr.data.degradations import imresize
from vsr.data.frames import FrameFolderSource
from vsr.data.sampling import DegradationSampler
from vsr.data.videos import VideoSource
from vsr.data.vimeo import VimeoSource
from vsr.video.clips import VideoClip
from vsr.video.colour import frame_to_rgb
from vsr.video.errors import VideoError
from vsr.video.files import read_image as read_rgb
from vsr.video.layouts import read_vimeo_list as read_list
from vsr.video.metadata import probe


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return (t.movedim(-3, -1) * 255).round().to(torch.uint8).numpy()


BICUBIC = DegradationSampler(kinds=["bicubic"], scales=(2, 3, 4), val_scales=(3,))

# --------------------------------------------------------------------------------------------
# Vimeo-90K on the real septuplets, with the list file kept elsewhere
# --------------------------------------------------------------------------------------------


def test_vimeo_real_septuplets(vimeo_list: Path) -> None:
    sequences = shared_path("vimeo90k_mini", "sequences")
    source = VimeoSource(sequences.parent, list_file=vimeo_list, sequences_dir=sequences)
    clips = source.clips()
    assert [c.name for c in clips] == ["00001/0001", "00001/0005", "00002/0008"]
    assert clips[0].num_frames == 7 and clips[2].frame_key(3) == "00002/0008/im4"
    val = ValDataset(source, BICUBIC, num_frames=7, use_precomputed=False)
    assert len(val) == 3
    assert len(ValDataset(source, BICUBIC, num_frames=5, frame_stride=10)) == 3  # im4 stays
    sample = val[2]
    im = [read_rgb(sequences / "00002" / "0008" / f"im{i}.png") for i in range(1, 8)]
    assert im[3].shape == (256, 448, 3)
    np.testing.assert_array_equal(_to_uint8(sample["hr"]), im[3][:255, :447])  # modcrop x3
    for t in (0, 3, 6):
        np.testing.assert_array_equal(
            _to_uint8(sample["lr"][t]), imresize(im[t][:255, :447], 1 / 3)
        )
    assert sample["key"] == "00002/0008/im4"


@pytest.mark.parametrize("num_frames", [5, 7])
def test_vimeo_training_crops_around_im4(vimeo_list: Path, num_frames: int) -> None:
    sequences = shared_path("vimeo90k_mini", "sequences")
    source = VimeoSource(sequences.parent, list_file=vimeo_list, sequences_dir=sequences)
    ds = TrainDataset(
        source,
        BICUBIC,
        num_frames=num_frames,
        patch_size=64,
        flip=False,
        rot90=False,
        reverse=False,
    )
    torch.manual_seed(3)
    sample = ds[(1, 4)]
    assert sample["lr"].shape == (num_frames, 3, 16, 16) and sample["hr"].shape == (3, 64, 64)
    first = 4 - num_frames // 2  # im2 for 5 frames, im1 for 7
    im4 = read_rgb(sequences / "00001" / "0005" / "im4.png")
    hr = _to_uint8(sample["hr"])
    hits = [
        (y, x)
        for y in range(0, 193, 4)
        for x in range(0, 385, 4)
        if np.array_equal(im4[y : y + 64, x : x + 64], hr)
    ]
    assert len(hits) == 1
    y, x = hits[0]
    im_first = read_rgb(sequences / "00001" / "0005" / f"im{first}.png")
    np.testing.assert_array_equal(
        _to_uint8(sample["lr"][0]), imresize(im_first[y : y + 64, x : x + 64], 0.25)
    )


def test_vimeo_errors(tmp_path: Path, vimeo_list: Path) -> None:
    sequences = shared_path("vimeo90k_mini", "sequences")
    with pytest.raises(FileNotFoundError, match=r"sequences folder not found.*nowhere"):
        VimeoSource(tmp_path / "nowhere").clips()
    with pytest.raises(FileNotFoundError, match=r"list file not found: .*sep_testlist.txt"):
        VimeoSource(sequences.parent, split="val").clips()
    bad = tmp_path / "bad.txt"
    bad.write_text("00001/0001\n00009/0001\n")
    with pytest.raises(FileNotFoundError, match=r"00009/0001 is incomplete: .*im1.png not found"):
        VimeoSource(sequences.parent, list_file=bad).clips()
    bad.write_text("00001-0001\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected"):
        read_list(bad)
    bad.write_text("\n\n")
    with pytest.raises(ValueError, match="lists no septuplets"):
        read_list(bad)
    with pytest.raises(ValueError, match="1, 3, 5 or 7 frames"):
        TrainDataset(VimeoSource(sequences.parent, list_file=vimeo_list), BICUBIC, num_frames=9)


# --------------------------------------------------------------------------------------------
# Frame folders
# --------------------------------------------------------------------------------------------


def _frames_tree(root: Path, clips: dict[str, int], names: str = "{i}.png") -> None:
    rng = np.random.default_rng(2)
    for clip, count in clips.items():
        for i in range(count):
            write_rgb(root / clip / names.format(i=i), textured_frame(rng, 20, 24, i))


def test_frame_folders_natural_order_and_split(tmp_path: Path) -> None:
    root = tmp_path / "frames"
    _frames_tree(root, {"walk": 12, "city": 5, "clip10": 4, "clip2": 4})
    (root / "notes").mkdir()  # a folder without images is not a clip
    all_clips = FrameFolderSource(root).clips()
    assert [c.name for c in all_clips] == ["city", "clip2", "clip10", "walk"]
    walk = all_clips[3]
    assert [p.name for p in walk.paths[:4]] == ["0.png", "1.png", "2.png", "3.png"]
    assert walk.paths[10].name == "10.png" and walk.frame_key(10) == "walk/10"
    assert [c.name for c in FrameFolderSource(root, "val").clips()] == ["walk"]
    assert [c.name for c in FrameFolderSource(root, "train", val_clips=["city"]).clips()] == [
        "clip2",
        "clip10",
        "walk",
    ]
    with pytest.raises(ValueError, match=r"validation clips \['cafe'\] not found"):
        FrameFolderSource(root, "train", val_clips=["cafe"]).clips()


def test_single_folder_of_images_and_lr_root(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = [textured_frame(rng, 16, 20, i) for i in range(5)]
    for i, f in enumerate(frames):
        write_rgb(tmp_path / "gt" / f"f{i:03d}.png", f)
        write_rgb(tmp_path / "lr" / f"f{i:03d}.png", f[::4, ::4])  # distinguishable from BI
    source = FrameFolderSource(tmp_path / "gt", split="val", lr_root=tmp_path / "lr", lr_scale=4)
    sampler = DegradationSampler(kinds=["bicubic"], scales=(4,))
    ds = ValDataset(source, sampler, num_frames=3)
    assert len(ds) == 5
    sample = ds[4]
    np.testing.assert_array_equal(_to_uint8(sample["hr"]), frames[4])
    np.testing.assert_array_equal(_to_uint8(sample["lr"][1]), frames[4][::4, ::4])
    np.testing.assert_array_equal(_to_uint8(sample["lr"][2]), frames[3][::4, ::4])  # reflected


def test_frame_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"frame-folder root not found.*missing"):
        FrameFolderSource(tmp_path / "missing").clips()
    (tmp_path / "empty" / "clip").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"no frames found under .*empty"):
        FrameFolderSource(tmp_path / "empty").clips()
    (tmp_path / "broken" / "clip").mkdir(parents=True)
    (tmp_path / "broken" / "clip" / "0.png").write_bytes(b"not a png")
    clip = FrameFolderSource(tmp_path / "broken").clips()[0]
    with pytest.raises(VideoError, match=r"cannot read image .*0.png"):
        clip.read([0])


# --------------------------------------------------------------------------------------------
# Video files
# --------------------------------------------------------------------------------------------


def _decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of a plain linear decode, converted with the video's own colour matrix."""
    colour = probe(path).colour
    with av.open(str(path)) as container:
        return [frame_to_rgb(f, colour) for f in container.decode(video=0)]


@pytest.mark.parametrize("name", ["mmagic_test_inference.mp4", "imageio_realshort.mp4"])
def test_video_windows_match_sequential_decode(name: str) -> None:
    path = shared_path("videos", name)
    reference = _decode_all(path)
    clip = VideoClip(path, cache_frames=4)
    assert clip.num_frames == len(reference)
    n = clip.num_frames
    for start in [n - 3, 0, n // 2, 1, n - 3]:  # backwards seeks, cache hits and misses
        window = clip.read([start, start + 1, start + 2])
        for k in range(3):
            np.testing.assert_array_equal(window[k], reference[start + k])
    assert len(clip._cache) <= 4
    clone = pickle.loads(pickle.dumps(clip))  # DataLoader workers get a closed copy
    np.testing.assert_array_equal(clone.read([n - 1])[0], reference[-1])
    clip.close()


def test_video_source_train_and_val() -> None:
    videos = shared_path("videos")
    files = ["mmagic_test_inference.mp4", "imageio_realshort.mp4"]
    train = VideoSource(videos, files=files, split="train")
    val = VideoSource(videos, files=files, split="val")
    assert [c.name for c in train.clips()] == ["mmagic_test_inference"]
    assert [c.name for c in val.clips()] == ["imageio_realshort"]
    ds = TrainDataset(train, BICUBIC, num_frames=5, patch_size=32)
    assert len(ds) == 1  # 5 frames: one window that fits
    torch.manual_seed(0)
    sample = ds[(0, 2)]
    assert (
        sample["lr"].shape == (5, 3, 16, 16) and sample["key"] == "mmagic_test_inference/00000002"
    )
    vds = ValDataset(val, BICUBIC, num_frames=3, frame_stride=10)
    assert len(vds) == 4  # frames 0, 10, 20, 30 of 36, at x3
    reference = _decode_all(videos / files[1])
    sample = vds[3]
    np.testing.assert_array_equal(_to_uint8(sample["hr"]), reference[30][:240, :318])
    np.testing.assert_array_equal(
        _to_uint8(sample["lr"][2]), imresize(reference[31][:240, :318], 1 / 3)
    )


def test_video_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"video folder not found"):
        VideoSource(tmp_path / "none").clips()
    (tmp_path / "vids").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no video files under"):
        VideoSource(tmp_path / "vids").clips()
    (tmp_path / "vids" / "fake.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(VideoError, match=r"fake.mp4 is not a video file FFmpeg can read"):
        VideoSource(tmp_path / "vids").clips()
