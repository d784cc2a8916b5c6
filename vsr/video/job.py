"""The job folder of a resumable run: its manifest, finished segments and claims.

``OUTPUT.vsr-job/`` sits beside the output (so it is on the same file system, and on the
shared one when several machines write the output)::

    manifest.json        input fingerprint, output options, model hash, the segment list
    segments/000003.mp4  a finished segment (renamed into place only once complete)
    claims/000003        the process working on a segment, and its frames done so far

The state of each segment is on disk: done when its file exists, in progress while a
claim exists, to do otherwise. A half-written segment has a temporary name and is never
used; a rerun deletes it and the old claims, then continues with what is not done.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vsr.video.errors import VideoError
from vsr.video.files import list_images
from vsr.video.output import remove_path
from vsr.video.segments import Segment

JOB_SUFFIX = ".vsr-job"
#: Bumped when the folder's layout or the meaning of its files changes.
MANIFEST_VERSION = 1
#: Bytes hashed at each end of an input file (with its size and mtime: a cheap fingerprint
#: that still catches a file replaced by another of the same size).
_FINGERPRINT_BYTES = 1 << 20
#: Seconds between two writes of a segment's progress into its claim.
_REPORT_INTERVAL_S = 2.0


class JobMismatchError(VideoError):
    """An earlier, unfinished job for this output was made with other inputs or options."""


class Team(Protocol):
    """The processes sharing a job (one, or the ranks of ``torchrun``/``srun``)."""

    rank: int
    size: int

    def broadcast(self, value: object) -> object:
        """Rank 0's ``value``, on every rank."""
        ...

    def wait_for_all(self, poll) -> None:
        """Return once every rank has called this; call ``poll()`` every second meanwhile."""
        ...


class Alone:
    """A job run by a single process."""

    rank = 0
    size = 1

    def broadcast(self, value: object) -> object:
        return value

    def wait_for_all(self, poll) -> None:
        pass


def input_fingerprint(path: Path) -> dict:
    """What identifies an input: its size, time and content at both ends (files), or its
    frame names, sizes and times (folders)."""
    path = path.resolve()
    if path.is_dir():
        files = list_images(path)
        digest = hashlib.sha256()
        for file in files:
            stat = file.stat()
            digest.update(f"{file.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return {"path": str(path), "frames": len(files), "sha256": digest.hexdigest()}
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(_FINGERPRINT_BYTES))
        if stat.st_size > _FINGERPRINT_BYTES:
            f.seek(max(stat.st_size - _FINGERPRINT_BYTES, _FINGERPRINT_BYTES))
            digest.update(f.read())
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sha256": digest.hexdigest()}


@dataclass
class JobFolder:
    """The job folder of ``output`` (a video file or a folder of PNG frames)."""

    output: Path
    _last_report: float = field(default=0.0, init=False, repr=False)

    @property
    def path(self) -> Path:
        return self.output.with_name(self.output.name + JOB_SUFFIX)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def segment_path(self, segment: Segment) -> Path:
        """Where a finished segment lives: a file with the output's extension, or a folder."""
        return self.path / "segments" / f"{segment.number:06d}{self.output.suffix}"

    def partial_path(self, segment: Segment) -> Path:
        """Where a segment is written before it is complete (unique to this process)."""
        name = f".{segment.number:06d}.partial-{os.getpid()}{self.output.suffix}"
        return self.path / "segments" / name

    def joined_path(self) -> Path:
        """Where the output is assembled before it is renamed onto its final name."""
        return self.path / f"joined.partial{self.output.suffix}"

    def _claim_path(self, segment: Segment) -> Path:
        return self.path / "claims" / f"{segment.number:06d}"

    # Rank 0 --------------------------------------------------------------------------------

    def open(self, manifest: dict, restart: bool) -> int:
        """Start a new job, or check an earlier one against ``manifest`` and clean it up.

        Returns:
            The number of segments an earlier run finished (0 for a new job).

        Raises:
            JobMismatchError: an earlier job differs (the message says how), and not
                ``restart``.
        """
        if restart and self.path.exists():
            shutil.rmtree(self.path)
        old = self._read_manifest()
        if old is not None:
            differences = _differences(old, manifest)
            if differences:
                raise JobMismatchError(
                    f"{self.path} holds an unfinished job with other settings ("
                    + "; ".join(differences)
                    + "): rerun with the same ones to resume it, or pass --restart to "
                    "discard it"
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise VideoError(
                f"{self.path} exists but has no readable manifest; remove it or pass --restart"
            )
        for sub in ("segments", "claims"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        # What was in progress when the last run stopped is lost: its claims and partial
        # files (a process that is killed cannot remove them itself).
        for stale in (self.path / "claims").iterdir():
            stale.unlink()
        for stale in (self.path / "segments").glob(".*.partial-*"):
            remove_path(stale)
        remove_path(self.joined_path())
        if old is None:
            tmp = self.manifest_path.with_suffix(".partial")
            tmp.write_text(json.dumps(manifest, indent=1))
            os.replace(tmp, self.manifest_path)
            return 0
        return sum(self.is_done(Segment(n, a, b)) for n, (a, b) in enumerate(old["segments"]))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _read_manifest(self) -> dict | None:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None

    # Every rank ----------------------------------------------------------------------------

    def is_done(self, segment: Segment) -> bool:
        return self.segment_path(segment).exists()

    def claim(self, segment: Segment) -> bool:
        """Take ``segment`` for this process; False when it is done or another has it."""
        if self.is_done(segment):
            return False
        try:
            fd = os.open(self._claim_path(segment), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.close(fd)
        self._last_report = 0.0
        return True

    def report(self, segment: Segment, frames: int, force: bool = False) -> None:
        """Record the frames of a claimed segment done so far (for the progress bar)."""
        now = time.monotonic()
        if not force and now - self._last_report < _REPORT_INTERVAL_S:
            return
        self._last_report = now
        claim = self._claim_path(segment)
        tmp = claim.with_name(claim.name + ".partial")
        tmp.write_text(str(frames))
        os.replace(tmp, claim)

    def release(self, segment: Segment) -> None:
        self._claim_path(segment).unlink(missing_ok=True)

    def frames_done(self, segments: list[Segment]) -> int:
        """Frames finished in all processes: whole segments, and the claimed ones' reports."""
        total = 0
        for segment in segments:
            if self.is_done(segment):
                total += segment.frames
                continue
            try:
                total += int(self._claim_path(segment).read_text() or 0)
            except (OSError, ValueError):
                pass
        return total


def read_segments(manifest: dict) -> list[Segment]:
    return [Segment(n, a, b) for n, (a, b) in enumerate(manifest["segments"])]


def _differences(old: dict, new: dict) -> list[str]:
    """What differs between two manifests, in words (the segment list follows the rest)."""
    out = []
    if old.get("version") != new.get("version"):
        return [f"job format {old.get('version')}, now {new.get('version')}"]
    if old.get("input") != new.get("input"):
        out.append(f"the input {new['input']['path']} changed")
    for key in sorted(set(old.get("options", {})) | set(new.get("options", {}))):
        before, now = old.get("options", {}).get(key), new.get("options", {}).get(key)
        if before == now:
            continue
        if key == "model":
            out.append("the model's weights changed")
        else:
            out.append(f"{key} was {before!r}, now {now!r}")
    if not out and old.get("segments") != new.get("segments"):
        out.append("the input's frames changed")
    return out

