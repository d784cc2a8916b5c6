"""Finding the clips of an evaluation set on disk and reading their frames.

Three layouts (``--layout``):

- ``folders``: ``ROOT/<clip>/*.png``, one folder per clip, frames in natural name order. This
  is how Vid4 (``Vid4/GT/calendar/...``) and UDM10 are distributed. A ROOT that holds images
  itself is one clip.
- ``reds``: ``ROOT/train_sharp/<clip>/00000000.png`` (ROOT may also be the ``train_sharp``
  folder itself), restricted to REDS4 (clips 000, 011, 015, 020) unless ``clips`` says otherwise.
- ``vimeo``: ``ROOT/sequences/<a>/<b>/im1.png .. im7.png`` with the clip ids ``<a>/<b>``
  listed one per line in ``ROOT/sep_testlist.txt`` (or the ``test_list`` given).

A precomputed low-resolution tree (``lr_root``) mirrors the ground-truth tree below the clip
level with the same file names: for Vid4 ``Vid4/BIx4``, for REDS
``train_sharp_bicubic/X4``, for Vimeo a folder holding ``<a>/<b>/im*.png`` (or a
``sequences/`` folder that does).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

LAYOUTS: tuple[str, ...] = ("folders", "reds", "vimeo")
#: The REDS clips every VSR paper reports as "REDS4".
REDS4_CLIPS: tuple[str, ...] = ("000", "011", "015", "020")
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
#: Vimeo-90K septuplet frame names.
VIMEO_FRAMES: tuple[str, ...] = tuple(f"im{i}.png" for i in range(1, 8))


@dataclass(frozen=True)
class Clip:
    """One clip to evaluate.

    Attributes:
        name: the clip id as papers print it (``calendar``, ``000``, ``00001/0266``).
        gt_frames: ground-truth frame files, in temporal order.
        lr_frames: matching low-resolution files, or None to degrade the ground truth.
        scored: indices into ``gt_frames`` of the frames that are measured (all, or the centre
            frame for Vimeo-90K-T); the other frames still feed the model as neighbours.
    """

    name: str
    gt_frames: tuple[Path, ...]
    lr_frames: tuple[Path, ...] | None
    scored: tuple[int, ...]


def _natural_key(path: Path) -> list[int | str]:
    """Sort key treating digit runs as numbers (``frame2`` before ``frame10``)."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=_natural_key)


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} does not exist or is not a folder")


def _clip_folders(root: Path, layout: str, test_list: Path | None) -> list[tuple[str, Path]]:
    """(name, folder) of every ground-truth clip of the layout, before filtering."""
    if layout == "folders":
        subdirs = sorted((p for p in root.iterdir() if p.is_dir()), key=_natural_key)
        with_images = [(p.name, p) for p in subdirs if list_images(p)]
        if with_images:
            return with_images
        if list_images(root):
            return [(root.name, root)]
        raise FileNotFoundError(
            f"no clips under {root}: expected ROOT/<clip>/*.png (layout 'folders')"
        )
    if layout == "reds":
        base = root / "train_sharp" if (root / "train_sharp").is_dir() else root
        return [(p.name, p) for p in sorted(base.iterdir(), key=_natural_key) if p.is_dir()]
    if layout == "vimeo":
        seq = root / "sequences"
        _require_dir(seq, "Vimeo-90K sequences folder")
        list_file = test_list if test_list is not None else root / "sep_testlist.txt"
        if not list_file.is_file():
            raise FileNotFoundError(
                f"Vimeo-90K test list {list_file} not found: put sep_testlist.txt (lines such as "
                "'00001/0266') next to sequences/ or pass --test-list FILE"
            )
        names = [ln.strip() for ln in list_file.read_text().splitlines() if ln.strip()]
        return [(name, seq / name) for name in names]
    raise ValueError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")


def _lr_base(lr_root: Path, layout: str) -> Path:
    if layout == "vimeo" and (lr_root / "sequences").is_dir():
        return lr_root / "sequences"
    return lr_root


def find_clips(
    root: str | Path,
    layout: str,
    *,
    lr_root: str | Path | None = None,
    clips: Sequence[str] | None = None,
    test_list: str | Path | None = None,
    centre_only: bool = False,
) -> list[Clip]:
    """List the clips of an evaluation set.

    Args:
        root: dataset root (see the module docstring for each layout).
        layout: one of :data:`LAYOUTS`.
        lr_root: optional precomputed low-resolution tree with the same clip folders and names.
        clips: only these clip names, in this order (default: REDS4 for ``reds``, all others).
        test_list: Vimeo-90K list file (default ``ROOT/sep_testlist.txt``).
        centre_only: score only the middle frame of each clip.

    Raises:
        FileNotFoundError: naming the missing folder or file.
    """
    root = Path(root)
    _require_dir(root, "dataset root")
    found = _clip_folders(root, layout, Path(test_list) if test_list else None)
    if clips is None and layout == "reds":
        clips = REDS4_CLIPS
    if clips is not None:
        by_name = dict(found)
        missing = [c for c in clips if c not in by_name]
        if missing:
            raise FileNotFoundError(
                f"clip(s) {', '.join(missing)} not found under {root} (layout {layout!r}); "
                f"available: {', '.join(sorted(by_name)[:10]) or 'none'}"
            )
        found = [(c, by_name[c]) for c in clips]
    if not found:
        raise FileNotFoundError(f"no clips found under {root} (layout {layout!r})")

    result = []
    for name, folder in found:
        _require_dir(folder, f"clip {name!r}:")
        if layout == "vimeo":
            gt = [folder / f for f in VIMEO_FRAMES]
            absent = [p for p in gt if not p.is_file()]
            if absent:
                raise FileNotFoundError(f"Vimeo-90K clip {name}: missing {absent[0]}")
        else:
            gt = list_images(folder)
            if not gt:
                raise FileNotFoundError(f"clip {name!r}: no images in {folder}")
        lr = None
        if lr_root is not None:
            lr_folder = _lr_base(Path(lr_root), layout) / name
            if folder == root:  # a single-clip ROOT: the LR root holds the frames directly
                lr_folder = Path(lr_root)
            lr = [lr_folder / p.name for p in gt]
            absent = [p for p in lr if not p.is_file()]
            if absent:
                raise FileNotFoundError(
                    f"low-resolution frame {absent[0]} not found: the LR tree must mirror the "
                    f"ground truth ({gt[0].parent}) with the same file names"
                )
        scored = (len(gt) // 2,) if centre_only else tuple(range(len(gt)))
        result.append(Clip(name, tuple(gt), tuple(lr) if lr else None, scored))
    return result


def read_frames(paths: Sequence[Path]) -> np.ndarray:
    """Read images as one clip.

    Returns:
        (T, H, W, 3) uint8 RGB.

    Raises:
        ValueError: if a file is unreadable or the frames differ in size.
    """
    frames = []
    for path in paths:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read image {path}")
        if frames and img.shape != frames[0].shape:
            raise ValueError(
                f"{path} is {img.shape[1]}x{img.shape[0]} but the clip's first frame is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}: frames of a clip must share a size"
            )
        frames.append(img)
    return np.ascontiguousarray(np.stack(frames)[..., ::-1])
