"""Finding the clips of an evaluation set on disk (read through :mod:`vsr.video`).

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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vsr.evaluation.errors import EvaluationError
from vsr.video.clips import FrameFolderClip
from vsr.video.errors import ClipNotFoundError
from vsr.video.files import list_folders, list_images, require_dir
from vsr.video.layouts import (
    REDS4_CLIPS,
    REDS_GT_FOLDER,
    VIMEO_CENTRE,
    read_vimeo_list,
    vimeo_frame_paths,
)

LAYOUTS: tuple[str, ...] = ("folders", "reds", "vimeo")


@dataclass(frozen=True)
class EvalClip:
    """One clip to evaluate: its ground truth, the given LR input if any, what is scored.

    Attributes:
        gt: the ground-truth frames (the clip is named as papers print it: ``calendar``,
            ``000``, ``00001/0266``).
        lr: the matching low-resolution frames, or None to degrade the ground truth.
        scored: indices of the frames that are measured (all, or the centre frame for
            Vimeo-90K-T); the other frames still feed the model as neighbours.
    """

    gt: FrameFolderClip
    lr: FrameFolderClip | None
    scored: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.gt.name

    @property
    def gt_frames(self) -> tuple[Path, ...]:
        return tuple(self.gt.paths)

    @property
    def lr_frames(self) -> tuple[Path, ...] | None:
        return tuple(self.lr.paths) if self.lr is not None else None


def _clip_folders(root: Path, layout: str, test_list: Path | None) -> list[tuple[str, Path]]:
    """(name, folder) of every ground-truth clip of the layout, before filtering."""
    if layout == "folders":
        with_images = [(p.name, p) for p in list_folders(root) if list_images(p)]
        if with_images:
            return with_images
        if list_images(root):
            return [(root.name, root)]
        raise ClipNotFoundError(
            f"no clips under {root}: expected ROOT/<clip>/*.png (layout 'folders')"
        )
    if layout == "reds":
        base = root / REDS_GT_FOLDER if (root / REDS_GT_FOLDER).is_dir() else root
        return [(p.name, p) for p in list_folders(base)]
    if layout == "vimeo":
        seq = require_dir(root / "sequences", "Vimeo-90K sequences folder")
        list_file = test_list if test_list is not None else root / "sep_testlist.txt"
        if not list_file.is_file():
            raise ClipNotFoundError(
                f"Vimeo-90K test list {list_file} not found: put sep_testlist.txt (lines such as "
                "'00001/0266') next to sequences/ or pass --test-list FILE"
            )
        return [(name, seq / name) for name in read_vimeo_list(list_file)]
    raise EvaluationError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")


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
) -> list[EvalClip]:
    """List the clips of an evaluation set.

    Args:
        root: dataset root (see the module docstring for each layout).
        layout: one of :data:`LAYOUTS`.
        lr_root: optional precomputed low-resolution tree with the same clip folders and names.
        clips: only these clip names, in this order (default: REDS4 for ``reds``, all others).
        test_list: Vimeo-90K list file (default ``ROOT/sep_testlist.txt``).
        centre_only: score only the middle frame of each clip.

    Raises:
        ClipNotFoundError: naming the missing folder or file.
    """
    root = require_dir(root, "dataset root")
    found = _clip_folders(root, layout, Path(test_list) if test_list else None)
    if clips is None and layout == "reds":
        clips = REDS4_CLIPS
    if clips is not None:
        by_name = dict(found)
        missing = [c for c in clips if c not in by_name]
        if missing:
            raise ClipNotFoundError(
                f"clip(s) {', '.join(missing)} not found under {root} (layout {layout!r}); "
                f"available: {', '.join(sorted(by_name)[:10]) or 'none'}"
            )
        found = [(c, by_name[c]) for c in clips]
    if not found:
        raise ClipNotFoundError(f"no clips found under {root} (layout {layout!r})")

    result = []
    for name, folder in found:
        require_dir(folder, f"clip {name!r}")
        if layout == "vimeo":
            gt = vimeo_frame_paths(folder)
        else:
            gt = list_images(folder)
            if not gt:
                raise ClipNotFoundError(f"clip {name!r}: no images in {folder}")
        lr = None
        if lr_root is not None:
            lr_folder = _lr_base(Path(lr_root), layout) / name
            if folder == root:  # a single-clip ROOT: the LR root holds the frames directly
                lr_folder = Path(lr_root)
            lr = [lr_folder / p.name for p in gt]
            absent = [p for p in lr if not p.is_file()]
            if absent:
                raise ClipNotFoundError(
                    f"low-resolution frame {absent[0]} not found: the LR tree must mirror the "
                    f"ground truth ({gt[0].parent}) with the same file names"
                )
        if centre_only:
            scored: tuple[int, ...] = (VIMEO_CENTRE if layout == "vimeo" else len(gt) // 2,)
        else:
            scored = tuple(range(len(gt)))
        result.append(
            EvalClip(
                FrameFolderClip(name, gt),
                FrameFolderClip(name, lr) if lr else None,
                scored,
            )
        )
    return result
