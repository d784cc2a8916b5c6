"""A resumable transcode: the clip in segments, shared by one or several processes.

Each segment (:mod:`vsr.video.segments`) is processed from its own windows and written as
its own file in the job folder (:mod:`vsr.video.job`); when all are done, rank 0 joins them
without re-encoding (:mod:`vsr.video.join`) and removes the folder. A run that is killed
loses only the segments in progress; the same command continues from there.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from vsr.video.errors import VideoError
from vsr.video.job import MANIFEST_VERSION, JobFolder, Team, input_fingerprint, read_segments
from vsr.video.join import join_frame_folders, join_videos
from vsr.video.options import TranscodeOptions
from vsr.video.output import check_destination, output_kind, remove_path, replace_output
from vsr.video.pipeline import (
    TranscodeResult,
    clip_progress,
    index_input,
    no_frames_error,
    open_writer,
    output_size,
    process_windows,
    write_processed,
)
from vsr.video.processors import FrameProcessor
from vsr.video.progress import FrameProgress
from vsr.video.reader import FrameFolderReader, VideoFileReader, open_reader
from vsr.video.segments import Segment, plan_segments, segment_windows
from vsr.video.threaded import ThreadedWriter
from vsr.video.writer import CONTAINER_FORMATS, default_codec

log = logging.getLogger("vsr.video")

Reader = VideoFileReader | FrameFolderReader


def transcode_segmented(
    input: str | Path, output: str | Path, processor: FrameProcessor,
    options: TranscodeOptions, team: Team, identity: dict, outer: FrameProgress | None = None,
) -> TranscodeResult:
    """:func:`vsr.video.transcode` as a resumable job (see the module docstring).

    Every rank calls this with the same arguments. Rank 0 checks the output and the job
    folder, and the others wait for its verdict; then each takes the next unclaimed
    segment until none is left; rank 0 joins them once all ranks are done.
    """
    output = Path(output)
    started = time.perf_counter()
    show = not options.quiet and team.rank == 0 and outer is None  # a bar of its own
    index_input(input, not show)
    reader = open_reader(input, options.start, options.end, options.fps)
    try:
        if reader.total == 0:
            raise no_frames_error(reader.info, options)
        segments = plan_segments(reader.total, options.segment_frames,
                                 processor.num_frames // 2, reader.keyframes)
        manifest = {
            "version": MANIFEST_VERSION,
            "input": input_fingerprint(Path(input)),
            "options": {
                **options.output_fields(),
                "codec": options.codec or default_codec(output),
                "scale": processor.scale,
                "num_frames": processor.num_frames,
                **identity,
            },
            "frames": reader.total,
            "segments": [[s.first, s.stop] for s in segments],
        }
        job = JobFolder(output)
        resumed = _open_job(job, manifest, options, team)
        segments = read_segments(manifest)
        done_before = sum(s.frames for s in segments if job.is_done(s))
        if resumed and team.rank == 0 and not options.quiet:
            log.warning("resuming %s: %d of %d segments (%d of %d frames) already done",
                        job.path, resumed, len(segments), done_before, reader.total)
        try:
            with clip_progress(options, reader.total, show, outer, done_before) as progress:
                for segment in segments:
                    if not job.claim(segment):
                        continue
                    try:
                        _encode_segment(job, segment, reader, processor, options, output,
                                        progress if team.rank == 0 else None, segments)
                    finally:
                        job.release(segment)
                # Rank 0 keeps the bar moving with the others' progress until all are done.
                team.wait_for_all(lambda: progress(job.frames_done(segments)))
            if team.rank == 0:
                _join(job, segments, reader, output, not show)
                job.remove()
        except BaseException:
            # Nothing to resume (e.g. the encoder refused its options): leave nothing behind.
            if team.rank == 0 and not any(job.is_done(s) for s in segments):
                job.remove()
            raise
    finally:
        reader.close()
    return TranscodeResult(output, reader.total, time.perf_counter() - started,
                           resumed=done_before)


def _open_job(job: JobFolder, manifest: dict, options: TranscodeOptions, team: Team) -> int:
    """Rank 0 opens the job folder (or finds why it cannot); every rank gets its verdict."""
    verdict: tuple[str, object] = ("ok", 0)
    if team.rank == 0:
        try:
            check_destination(job.output, options.overwrite)
            verdict = ("ok", job.open(manifest, options.restart))
        except VideoError as exc:
            verdict = ("error", exc)
    verdict = team.broadcast(verdict)
    if verdict[0] == "error":
        raise verdict[1]  # type: ignore[misc]
    return verdict[1]  # type: ignore[return-value]


def _encode_segment(
    job: JobFolder, segment: Segment, reader: Reader, processor: FrameProcessor,
    options: TranscodeOptions, output: Path, progress: Callable[[int], None] | None,
    segments: list[Segment],
) -> None:
    """Process and write one segment; it appears under its final name only when complete."""
    partial = job.partial_path(segment)
    info = reader.info
    writer = open_writer(partial, output, info, processor.scale, options, reader.offset_seconds,
                         first_index=segment.first)
    if options.threaded:
        writer = ThreadedWriter(writer, max_items=max(8, 2 * options.batch))
    context = segment.context(reader.total, processor.num_frames // 2)
    windows = segment_windows(reader.frames(context.start, context.stop), segment,
                              reader.total, processor.num_frames, options.padding)

    others = [s for s in segments if s != segment]
    others_done = job.frames_done(others)
    last_look = time.monotonic()

    def on_frame(count: int) -> None:
        nonlocal others_done, last_look
        job.report(segment, count)
        if progress is None:
            return
        # What the other processes finished is read from the job folder, once a second.
        if time.monotonic() - last_look > 1.0:
            others_done, last_look = job.frames_done(others), time.monotonic()
        progress(others_done + count)

    try:
        write_processed(process_windows(windows, processor, options.batch), writer,
                        output_size(info, processor.scale, output), processor, info, on_frame)
        writer.close()
    except BaseException:
        writer.abort()
        remove_path(partial)
        raise
    os.replace(partial, job.segment_path(segment))
    job.report(segment, segment.frames, force=True)


def _join(
    job: JobFolder, segments: list[Segment], reader: Reader, output: Path, quiet: bool
) -> None:
    """Join the finished segments under a temporary name, then rename it onto ``output``."""
    missing = [s.number for s in segments if not job.is_done(s)]
    if missing:
        raise VideoError(f"{job.path}: segments {missing} are not done; rerun to finish them")
    parts = [job.segment_path(s) for s in segments]
    joined = job.joined_path()
    with FrameProgress(f"joining {len(parts)} segments", None, quiet):
        if output_kind(output) == "folder":
            join_frame_folders(parts, joined)
        else:
            first_pts = [reader.frame_pts(s.first) for s in segments]
            join_videos(parts, first_pts, joined, CONTAINER_FORMATS[output.suffix.lower()],
                        reader.info,
                        reader.passthrough_streams, reader.passthrough_packets(),
                        reader.offset_seconds, reader.container)
    replace_output(joined, output)
