"""Upscaling every video of a folder into another folder, as one resumable job."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vsr.inference.errors import InferenceError
from vsr.inference.options import UpscaleOptions
from vsr.inference.upscale import upscale_video
from vsr.video import Team, TranscodeResult, index_video, list_images, list_videos
from vsr.video.progress import FrameProgress
from vsr.video.writer import CONTAINER_FORMATS

log = logging.getLogger("vsr.inference")

#: Output container for inputs whose own cannot be written (.avi, .flv, ...): Matroska
#: holds any codec, audio and subtitles.
FALLBACK_SUFFIX = ".mkv"


@dataclass
class FolderResult:
    """What a folder job produced: the videos upscaled now, and those already done."""

    output: Path
    done: list[TranscodeResult]
    skipped: list[Path]
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        processed = sum(r.frames - r.resumed for r in self.done)
        return processed / max(self.seconds, 1e-9)


def is_video_folder(path: Path) -> bool:
    """A folder of video files (not of image frames, which is one clip)."""
    return path.is_dir() and not list_images(path) and bool(list_videos(path))


def output_name(video: Path, output_dir: Path) -> Path:
    """The same name in ``output_dir``; the container changes only where ours cannot write
    the input's (to :data:`FALLBACK_SUFFIX`)."""
    if video.suffix.lower() in CONTAINER_FORMATS:
        return output_dir / video.name
    return output_dir / (video.stem + FALLBACK_SUFFIX)


def upscale_folder(
    input_dir: str | Path, output_dir: str | Path, options: UpscaleOptions | None = None,
    *, model: torch.nn.Module, team: Team | None = None,
) -> FolderResult:
    """Upscale the videos of ``input_dir`` (natural order) into ``output_dir``.

    A video whose output exists is skipped (unless ``overwrite``), so a rerun completes an
    interrupted folder; an unfinished video resumes from its job folder. One progress bar
    covers all frames of the videos to do.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    options = options or UpscaleOptions()
    started = time.perf_counter()
    videos = list_videos(input_dir)
    if not videos:
        raise InferenceError(f"{input_dir} holds no video files")
    if output_dir.suffix.lower() in CONTAINER_FORMATS or output_dir.is_file():
        raise InferenceError(
            f"{input_dir} is a folder of videos, so the output must be a folder, got {output_dir}"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    rank = team.rank if team is not None else 0
    # Rank 0 decides what is left to do, so every rank walks the same list.
    todo = [v for v in videos if options.video.overwrite or not output_name(v, output_dir).exists()]
    if team is not None:
        todo = team.broadcast(todo)
    skipped = [v for v in videos if v not in todo]
    for video in skipped:
        log.info("%s: already upscaled, skipped", output_name(video, output_dir))
    shown = not options.video.quiet and rank == 0
    results = []
    with FrameProgress(f"indexing {len(todo)} videos", len(todo), not shown) as bar:
        totals = []
        for video in todo:
            span = index_video(video).frames_in(options.video.start, options.video.end)
            totals.append(len(span))
            bar.advance()
    description = f"x{options.scale} {len(todo)} videos of {input_dir.name}"
    with FrameProgress(description, sum(totals), not shown) as progress:
        for video in todo:
            results.append(upscale_video(
                video, output_name(video, output_dir),
                replace(options, video=replace(options.video, quiet=True)),
                model=model, team=team, progress=progress if shown else None,
            ))
    return FolderResult(output_dir, results, skipped, sum(r.frames for r in results),
                        time.perf_counter() - started)
