"""The REDS and Vimeo-90K layouts, defined once for training and evaluation.

REDS (as BasicSR regroups it): ``train_sharp/<clip>/00000000.png``; clips 240-269 are the
official validation clips 000-029 renamed. Vimeo-90K: ``sequences/<a>/<b>/im1.png .. im7.png``
with the septuplet ids ``<a>/<b>`` listed in ``sep_trainlist.txt`` / ``sep_testlist.txt``.
"""

from __future__ import annotations

from pathlib import Path

from vsr.video.errors import ClipNotFoundError, UnreadableClipError

#: The REDS clips held out by the REDS4 partition (EDVR, BasicVSR and most papers report these).
REDS4_CLIPS: tuple[str, ...] = ("000", "011", "015", "020")
#: The official REDS validation clips after regrouping into train_sharp (000-029 -> 240-269).
REDS_OFFICIAL_VAL_CLIPS: tuple[str, ...] = tuple(f"{i:03d}" for i in range(240, 270))
#: Folder of the REDS ground truth under the dataset root.
REDS_GT_FOLDER = "train_sharp"

#: Frames per Vimeo-90K septuplet, their file names, and the index of the centre frame (im4).
VIMEO_FRAMES = 7
VIMEO_FRAME_NAMES: tuple[str, ...] = tuple(f"im{i}.png" for i in range(1, VIMEO_FRAMES + 1))
VIMEO_CENTRE = 3


def reds_partition(partition: str) -> tuple[str, ...]:
    """Validation clip names of a REDS partition: ``REDS4`` or ``official``."""
    if partition == "REDS4":
        return REDS4_CLIPS
    if partition in ("official", "REDSofficial4", "REDSofficial"):
        return REDS_OFFICIAL_VAL_CLIPS
    raise ValueError(f"unknown REDS partition {partition!r}: expected 'REDS4' or 'official'")


def vimeo_frame_paths(folder: Path) -> list[Path]:
    """``im1.png .. im7.png`` of one septuplet folder.

    Raises:
        ClipNotFoundError: a frame is missing (the first missing one is named).
    """
    paths = [folder / name for name in VIMEO_FRAME_NAMES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ClipNotFoundError(
            f"Vimeo-90K septuplet {folder} is incomplete: {missing[0]} not found "
            "(expected im1.png ... im7.png)"
        )
    return paths


def read_vimeo_list(path: str | Path) -> list[str]:
    """Septuplet ids (``"00001/0001"``) from a Vimeo-90K list file, blank lines skipped.

    Raises:
        ClipNotFoundError: the list file is missing.
        UnreadableClipError: the list is empty or a line is not ``<folder>/<folder>``.
    """
    path = Path(path)
    if not path.is_file():
        raise ClipNotFoundError(
            f"Vimeo-90K list file not found: {path} (expected sep_trainlist.txt / "
            "sep_testlist.txt from the official vimeo_septuplet archive, with lines such as "
            "'00001/0001')"
        )
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        entry = line.strip()
        if not entry:
            continue
        parts = entry.split("/")
        if len(parts) != 2 or not all(parts):
            raise UnreadableClipError(
                f"{path}:{number}: expected '<folder>/<folder>' like '00001/0001', got {entry!r}"
            )
        ids.append(entry)
    if not ids:
        raise UnreadableClipError(f"Vimeo-90K list file {path} lists no septuplets")
    return ids
