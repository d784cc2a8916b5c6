"""REDS in its official layout (as BasicSR regroups it).

```
REDS/
  train_sharp/000/00000000.png ... 269/00000099.png      ground truth, 720x1280
  train_sharp_bicubic/X4/000/00000000.png ...            optional official BI x4 LR
  train_sharp_<kind>/X<s>/...                            optional LR from prepare_reds.py
  meta_info_REDS_GT.txt                                  optional: "000 100 (720,1280,3)"
```

Clips 240-269 are the official validation clips 000-029 renamed by ``scripts/prepare_reds.py``
(BasicSR's regrouping). Two partitions decide which clips validate:

- ``REDS4`` (default): clips 000, 011, 015, 020 validate, all others train.
- ``official`` (``REDSofficial4`` is accepted too): clips 240-269 validate.
"""

from __future__ import annotations

import re
from pathlib import Path

from vsr.data.clips import ClipSource
from vsr.video.clips import Clip, FrameFolderClip
from vsr.video.errors import ClipNotFoundError, UnreadableClipError
from vsr.video.files import list_folders, list_images, require_dir
from vsr.video.layouts import REDS_GT_FOLDER, reds_partition

_META_LINE = re.compile(r"^(\S+)\s+(\d+)\s+\((\d+),\s*(\d+),\s*(\d+)\)\s*$")


def read_meta_info(path: Path) -> list[tuple[str, int, tuple[int, int, int]]]:
    """Parse a BasicSR meta-info file: one ``<clip> <num_frames> (<h>,<w>,<c>)`` per line.

    Raises:
        ClipNotFoundError: the file is missing.
        UnreadableClipError: a line does not follow the format (its number and text are quoted).
    """
    path = Path(path)
    if not path.is_file():
        raise ClipNotFoundError(f"REDS meta-info file not found: {path}")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = _META_LINE.match(line.strip())
        if match is None:
            raise UnreadableClipError(
                f"{path}:{number}: expected '<clip> <num_frames> (<h>,<w>,<c>)' "
                f"such as '000 100 (720,1280,3)', got {line!r}"
            )
        name, count, h, w, c = match.groups()
        entries.append((name, int(count), (int(h), int(w), int(c))))
    return entries


class REDSSource(ClipSource):
    """REDS clips of one split.

    Args:
        root: the REDS folder (holding ``train_sharp``).
        split: ``"train"`` or ``"val"``.
        partition: ``"REDS4"`` or ``"official"`` (which clips validate).
        meta_info: optional BasicSR meta-info file listing clips and frame counts; without it
            the ``train_sharp`` folders are scanned.
        gt_folder: name of the ground-truth folder under ``root``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        partition: str = "REDS4",
        meta_info: str | Path | None = None,
        gt_folder: str = REDS_GT_FOLDER,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"REDS split must be 'train' or 'val', got {split!r}")
        self.root = Path(root)
        self.split = split
        self.partition = partition
        self.val_clips = reds_partition(partition)
        self.meta_info = Path(meta_info) if meta_info is not None else None
        self.gt_folder = gt_folder

    def _lr_dirs(self, clip: str) -> dict[tuple[int, str], Path]:
        """Precomputed LR folders for a clip: ``train_sharp_<kind>/X<s>/<clip>``."""
        found = {}
        for kind_dir in self.root.glob(f"{self.gt_folder}_*"):
            kind = kind_dir.name[len(self.gt_folder) + 1 :]
            for scale_dir in kind_dir.glob("X*"):
                if scale_dir.name[1:].isdigit() and (scale_dir / clip).is_dir():
                    found[(int(scale_dir.name[1:]), kind)] = scale_dir / clip
        return found

    def clips(self) -> list[Clip]:
        gt = require_dir(
            self.root / self.gt_folder,
            "REDS ground-truth folder",
            "Point data.root at the REDS folder that holds train_sharp/<clip>/<frame>.png "
            "(run scripts/prepare_reds.py after unpacking the official archives).",
        )
        if self.meta_info is not None:
            names = [name for name, _, _ in read_meta_info(self.meta_info)]
        else:
            names = [p.name for p in list_folders(gt)]
        if self.split == "val":
            selected = [n for n in names if n in self.val_clips]
        else:
            selected = [n for n in names if n not in self.val_clips]
        if not selected:
            raise ClipNotFoundError(
                f"no REDS {self.split} clips for partition {self.partition!r} under {gt} "
                f"(validation clips: {', '.join(self.val_clips[:4])}...); "
                "for the 'official' partition run scripts/prepare_reds.py to add clips 240-269"
            )
        clips: list[Clip] = []
        lr_cache: dict[str, dict[tuple[int, str], Path]] = {}
        for name in selected:
            folder = require_dir(gt / name, f"REDS clip {name!r}")
            frames = list_images(folder)
            if not frames:
                raise ClipNotFoundError(f"REDS clip folder {folder} holds no images")
            lr_cache[name] = self._lr_dirs(name)
            clips.append(FrameFolderClip(name, frames, lr_dirs=lr_cache[name]))
        return clips

    def __repr__(self) -> str:
        return (
            f"REDSSource(root={str(self.root)!r}, split={self.split!r}, "
            f"partition={self.partition!r})"
        )
