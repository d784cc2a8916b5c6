"""Finding clips in the folders / REDS / Vimeo layouts and reading frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eval_frames import make_frames, write_frames

from vsr.evaluation.datasets import find_clips
from vsr.video.files import read_images as read_frames


def test_folders_natural_order_and_roundtrip(tmp_path: Path) -> None:
    frames = make_frames(0, 3, 16, 16)
    write_frames(tmp_path / "walk", frames, ["f2.png", "f10.png", "f1.png"])
    write_frames(tmp_path / "city", frames[:1], ["x.png"])
    (tmp_path / "empty").mkdir()
    clips = find_clips(tmp_path, "folders")
    assert [c.name for c in clips] == ["city", "walk"]
    walk = clips[1]
    assert [p.name for p in walk.gt_frames] == ["f1.png", "f2.png", "f10.png"]
    assert walk.scored == (0, 1, 2) and walk.lr_frames is None
    # Natural order: f1 (written from frames[2]), f2 (frames[0]), f10 (frames[1]).
    np.testing.assert_array_equal(read_frames(walk.gt_frames), frames[[2, 0, 1]])
    centre = find_clips(tmp_path, "folders", centre_only=True)
    assert centre[1].scored == (1,)


def test_single_clip_root(tmp_path: Path) -> None:
    write_frames(tmp_path / "calendar", make_frames(0, 2, 16, 16))
    clips = find_clips(tmp_path / "calendar", "folders")
    assert [c.name for c in clips] == ["calendar"]
    assert len(clips[0].gt_frames) == 2


def test_reds_defaults_to_reds4(tmp_path: Path) -> None:
    for name in ("000", "001", "011", "015", "020"):
        write_frames(tmp_path / "train_sharp" / name, make_frames(0, 1, 16, 16))
    assert [c.name for c in find_clips(tmp_path, "reds")] == ["000", "011", "015", "020"]
    picked = find_clips(tmp_path / "train_sharp", "reds", clips=["001"])
    assert [c.name for c in picked] == ["001"]
    with pytest.raises(FileNotFoundError, match="clip\\(s\\) 999 not found"):
        find_clips(tmp_path, "reds", clips=["999"])


def test_vimeo_list_and_lr_tree(tmp_path: Path) -> None:
    names = [f"im{i}.png" for i in range(1, 8)]
    for clip in ("00001/0001", "00002/0003"):
        write_frames(tmp_path / "gt" / "sequences" / clip, make_frames(0, 7, 16, 16), names)
        write_frames(tmp_path / "lr" / clip, make_frames(0, 7, 4, 4), names)
    with pytest.raises(FileNotFoundError, match="sep_testlist.txt"):
        find_clips(tmp_path / "gt", "vimeo")
    (tmp_path / "gt" / "sep_testlist.txt").write_text("00002/0003\n\n")
    clips = find_clips(tmp_path / "gt", "vimeo", lr_root=tmp_path / "lr", centre_only=True)
    assert [c.name for c in clips] == ["00002/0003"]
    assert clips[0].scored == (3,) and clips[0].gt_frames[3].name == "im4.png"
    assert clips[0].lr_frames[3] == tmp_path / "lr" / "00002/0003" / "im4.png"
    (tmp_path / "lr" / "00002/0003" / "im5.png").unlink()
    with pytest.raises(FileNotFoundError, match="im5.png not found"):
        find_clips(tmp_path / "gt", "vimeo", lr_root=tmp_path / "lr")


def test_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="dataset root"):
        find_clips(tmp_path / "nope", "folders")
    (tmp_path / "clip").mkdir()
    with pytest.raises(FileNotFoundError, match="no clips under"):
        find_clips(tmp_path, "folders")
    write_frames(tmp_path / "clip", make_frames(0, 1, 16, 16), ["a.png"])
    write_frames(tmp_path / "clip", make_frames(0, 1, 16, 20), ["b.png"])
    with pytest.raises(ValueError, match="b.png is 20x16"):
        read_frames(find_clips(tmp_path, "folders")[0].gt_frames)
