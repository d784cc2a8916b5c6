"""Frame folders: ``root/<clip>/*.png`` in natural order (Vid4 and users' own footage).

```
root/calendar/0001.png ...     one sub-folder per clip
root/city/...
```

A root that holds images directly is read as a single clip. ``lr_root`` may point at a
parallel tree of precomputed LR frames with the same names (e.g. Vid4's ``BIx4``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vsr.data.clips import ClipSource, split_clips
from vsr.video.clips import Clip, FrameFolderClip
from vsr.video.errors import ClipNotFoundError
from vsr.video.files import IMAGE_SUFFIXES, list_folders, list_images, require_dir


class FrameFolderSource(ClipSource):
    """Clips stored as folders of image files.

    Args:
        root: folder of clip folders (or of images, for a single clip).
        split: ``"train"``, ``"val"`` or ``"all"``.
        val_clips: clip names held out for validation, or how many of the last clips (in
            natural order) to hold out. With a single clip, ``"train"`` and ``"val"`` both use it.
        lr_root: optional parallel tree of precomputed LR frames for ``(lr_scale, lr_kind)``.
        lr_scale: scale of the frames in ``lr_root``.
        lr_kind: degradation of the frames in ``lr_root``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "all",
        val_clips: Sequence[str] | int = 1,
        lr_root: str | Path | None = None,
        lr_scale: int = 4,
        lr_kind: str = "bicubic",
    ) -> None:
        self.root = Path(root)
        self.split = split
        self.val_clips = val_clips if isinstance(val_clips, int) else list(val_clips)
        self.lr_root = Path(lr_root) if lr_root is not None else None
        self.lr_scale = lr_scale
        self.lr_kind = lr_kind

    def clips(self) -> list[Clip]:
        root = require_dir(self.root, "frame-folder root", "Expected root/<clip>/<frame>.png.")
        folders = list_folders(root)
        direct = list_images(root)
        if not folders and direct:
            folders = [root]  # images straight under root: one clip
        by_name = {p.name: p for p in folders}
        names = list(by_name)
        if len(names) > 1 or self.split == "all":
            names = split_clips(names, self.split, self.val_clips)
        clips: list[Clip] = []
        for name in names:
            frames = list_images(by_name[name])
            if not frames:
                continue  # sub-folders without images (e.g. notes) are not clips
            lr_dirs = {}
            if self.lr_root is not None:
                lr_folder = self.lr_root if by_name[name] == root else self.lr_root / name
                require_dir(lr_folder, f"LR frames of clip {name!r}")
                lr_dirs[(self.lr_scale, self.lr_kind)] = lr_folder
            clips.append(FrameFolderClip(name, frames, lr_dirs=lr_dirs))
        if not clips:
            raise ClipNotFoundError(
                f"no frames found under {root} for split {self.split!r}: expected "
                f"root/<clip>/<frame>.png (extensions {', '.join(IMAGE_SUFFIXES)})"
            )
        return clips

    def __repr__(self) -> str:
        return f"FrameFolderSource(root={str(self.root)!r}, split={self.split!r})"
