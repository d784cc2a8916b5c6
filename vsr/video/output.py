"""Safe output: write beside the destination under a temporary name, rename when done."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vsr.video.errors import VideoError
from vsr.video.writer import CONTAINER_FORMATS


def output_kind(path: Path) -> str:
    """``"video"`` for a known container extension, ``"folder"`` for a name without one."""
    suffix = path.suffix.lower()
    if suffix in CONTAINER_FORMATS:
        return "video"
    if suffix == "" or path.is_dir():
        return "folder"
    raise VideoError(
        f"unsupported output extension {suffix!r} for {path}: use "
        f"{', '.join(CONTAINER_FORMATS)} for a video, or a folder name for PNG frames"
    )


def check_destination(path: Path, overwrite: bool) -> None:
    """Fail early (before any decoding) when ``path`` cannot or must not be written."""
    if path.exists():
        empty_dir = path.is_dir() and not any(path.iterdir())
        if not overwrite and not empty_dir:
            raise VideoError(f"output {path} already exists; pass --overwrite to replace it")
    parent = path.parent
    if not parent.is_dir():
        raise VideoError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VideoError(f"cannot write {path}: folder {parent} is not writable")


def remove_path(path: Path) -> None:
    """Remove a file or a folder (with its contents), if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_output(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` onto ``path``, replacing what is there (a file or folder)."""
    if path.is_dir() or (path.exists() and tmp.is_dir()):
        remove_path(path)  # os.replace cannot put a folder over a file, or over a folder
    os.replace(tmp, path)


@contextmanager
def atomic_output(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    On any failure, including Ctrl-C, the temporary file or folder is removed and ``path``
    is left as it was, so a half-written file never sits under the requested name.
    """
    check_destination(path, overwrite)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        replace_output(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise
