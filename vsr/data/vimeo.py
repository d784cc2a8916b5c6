"""Vimeo-90K septuplets in the official layout.

```
vimeo_septuplet/
  sequences/00001/0001/im1.png ... im7.png     448x256 ground truth
  sep_trainlist.txt                            lines such as "00001/0001"
  sep_testlist.txt
  sequences_<kind>_X<s>/00001/0001/im1.png     optional LR from scripts/prepare_vimeo.py
```

Every septuplet is one 7-frame clip whose centre is ``im4``; 3, 5 or 7 frames are taken
around it.
"""

from __future__ import annotations

from pathlib import Path

from vsr.data.clips import ClipSource
from vsr.video.clips import Clip, FrameFolderClip
from vsr.video.files import require_dir
from vsr.video.layouts import (
    VIMEO_CENTRE,
    VIMEO_FRAMES,
    read_vimeo_list,
    vimeo_frame_paths,
)


class VimeoSource(ClipSource):
    """Vimeo-90K septuplets of one split.

    Args:
        root: the ``vimeo_septuplet`` folder.
        split: ``"train"`` (``sep_trainlist.txt``) or ``"val"`` (``sep_testlist.txt``).
        list_file: a list file to use instead (e.g. a short list kept elsewhere).
        sequences_dir: the sequences folder, default ``root/sequences``.
        lr_dir: where ``sequences_<kind>_X<s>`` LR folders are looked for, default the
            folder holding ``sequences_dir``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        list_file: str | Path | None = None,
        sequences_dir: str | Path | None = None,
        lr_dir: str | Path | None = None,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"Vimeo-90K split must be 'train' or 'val', got {split!r}")
        self.root = Path(root)
        self.split = split
        default_list = "sep_trainlist.txt" if split == "train" else "sep_testlist.txt"
        self.list_file = Path(list_file) if list_file is not None else self.root / default_list
        self.sequences_dir = (
            Path(sequences_dir) if sequences_dir is not None else self.root / "sequences"
        )
        self.lr_dir = Path(lr_dir) if lr_dir is not None else self.sequences_dir.parent

    def _lr_roots(self) -> dict[tuple[int, str], Path]:
        """``sequences_<kind>_X<s>`` folders beside the sequences folder."""
        found = {}
        prefix = self.sequences_dir.name + "_"
        for folder in self.lr_dir.glob(prefix + "*_X*"):
            kind, _, scale = folder.name[len(prefix) :].rpartition("_X")
            if scale.isdigit() and kind:
                found[(int(scale), kind)] = folder
        return found

    def clips(self) -> list[Clip]:
        sequences = require_dir(
            self.sequences_dir,
            "Vimeo-90K sequences folder",
            "Point data.root at vimeo_septuplet/ (holding sequences/ and sep_*list.txt).",
        )
        ids = read_vimeo_list(self.list_file)
        lr_roots = self._lr_roots()
        clips: list[Clip] = []
        for sid in ids:
            paths = vimeo_frame_paths(sequences / sid)
            lr_dirs = {key: root / sid for key, root in lr_roots.items() if (root / sid).is_dir()}
            keys = [f"{sid}/{p.stem}" for p in paths]
            clips.append(FrameFolderClip(sid, paths, lr_dirs=lr_dirs, keys=keys))
        return clips

    def centres(self, clip: Clip, num_frames: int, training: bool) -> list[int]:
        if num_frames > VIMEO_FRAMES or num_frames % 2 == 0:
            raise ValueError(f"Vimeo-90K gives 1, 3, 5 or 7 frames around im4, not {num_frames}")
        return [VIMEO_CENTRE]

    def __repr__(self) -> str:
        return f"VimeoSource(root={str(self.root)!r}, split={self.split!r})"
