"""The streaming pipeline: decode -> temporal windows -> processor -> encode, in one pass."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vsr.video.errors import VideoError
from vsr.video.index import index_video, is_indexed
from vsr.video.job import Alone, Team
from vsr.video.metadata import VideoInfo
from vsr.video.options import TranscodeOptions
from vsr.video.output import atomic_output, output_kind
from vsr.video.processors import FrameProcessor
from vsr.video.progress import FrameProgress
from vsr.video.reader import Frame, open_reader
from vsr.video.stream import batched, sliding_windows
from vsr.video.threaded import ThreadedWriter
from vsr.video.writer import CONTAINER_FORMATS, FrameFolderWriter, VideoFileWriter, default_codec

log = logging.getLogger("vsr.video")


@dataclass
class TranscodeResult:
    """What a run produced: ``frames`` written to ``output``, of which ``resumed`` came from
    an earlier, interrupted run, in ``seconds``."""

    output: Path
    frames: int
    seconds: float
    resumed: int = 0

    @property
    def fps(self) -> float:
        """Frames processed per second by this run."""
        return (self.frames - self.resumed) / max(self.seconds, 1e-9)


def process_windows(
    windows: Iterable[list[Frame]], processor: FrameProcessor, batch: int = 1
) -> Iterator[tuple[Frame, np.ndarray]]:
    """Run ``processor`` over temporal windows, ``batch`` at a time.

    Yields:
        (the centre input frame, its processed (sH, sW, 3) uint8 image), in input order.
    """
    for group in batched(windows, batch):
        stack = np.stack([[f.image for f in window] for window in group])  # (N, T, H, W, 3)
        outputs = processor(stack)
        for window, image in zip(group, outputs, strict=True):
            yield window[len(window) // 2], image


def process_frames(
    frames: Iterator[Frame], processor: FrameProcessor, batch: int = 1, padding: str = "reflect"
) -> Iterator[tuple[Frame, np.ndarray]]:
    """Run ``processor`` over the sliding windows of ``frames`` (``padding`` at the ends)."""
    windows = sliding_windows(frames, processor.num_frames, padding)
    return process_windows(windows, processor, batch)


def transcode(
    input: str | Path,
    output: str | Path,
    processor: FrameProcessor,
    options: TranscodeOptions | None = None,
    *,
    team: Team | None = None,
    identity: dict | None = None,
    progress: FrameProgress | None = None,
    **fields,
) -> TranscodeResult:
    """Process a video file (or a folder of frames) into a video file (or a folder of PNGs).

    Streams: only the processor's temporal window (plus ``batch`` windows) is in memory.
    Keeps each frame's timestamp, the frame rate, audio and subtitle streams (copied, or
    audio re-encoded where the container needs it), rotation (as metadata), sample aspect
    ratio and colour tags. Odd output sizes are cropped by one pixel to even.

    With ``options.segment_frames`` (the default) the work is a resumable job done in
    segments (:mod:`vsr.video.segmented`), possibly shared by several processes (``team``);
    with 0 it is one pass.

    Args:
        input: video file or folder of frames.
        output: ``.mp4``/``.mkv``/``.mov``/``.webm`` file, or a folder for PNG frames.
        processor: maps (N, T, H, W, 3) uint8 windows to (N, sH, sW, 3) uint8 frames.
        options: see :class:`TranscodeOptions`; ``fields`` override single ones
            (``transcode(a, b, p, end=2.0)``).
        team: the processes sharing the job (default: this one alone).
        identity: what else must match for a job to be resumed (e.g. the model's hash).
        progress: a bar over a larger job (a folder of videos) to advance, instead of one
            for this clip.

    Raises:
        VideoError: bad input or output (see the message); no file is left at ``output``.
    """
    options = replace(options or TranscodeOptions(), **fields)
    if options.segment_frames:
        from vsr.video.segmented import transcode_segmented

        return transcode_segmented(input, output, processor, options, team or Alone(),
                                   identity or {}, progress)
    if team is not None and team.size > 1:
        raise VideoError("several processes need segments: set a segment length above 0")
    return _transcode_once(input, Path(output), processor, options, progress)


@contextmanager
def clip_progress(
    options: TranscodeOptions, total: int, shown: bool, outer: FrameProgress | None,
    done: int = 0,
) -> Iterator[Callable[[int], None]]:
    """A function that shows ``n`` frames of this clip done: on its own bar, or on
    ``outer`` (a bar over several clips) counted from where that bar stood."""
    if outer is not None:
        base = outer.done
        outer.skip(done)
        yield lambda n: outer.update(base + n)
        outer.update(base + total)
        return
    with FrameProgress(options.description, total, not shown, done=done) as bar:
        yield bar.update


def index_input(input: str | Path, quiet: bool) -> None:
    """Number every frame of a video file first (one decode without colour conversion), so
    frames are never lost to the container's timestamps; cached for the readers."""
    if Path(input).is_file() and not is_indexed(input):
        with FrameProgress(f"indexing {Path(input).name}", None, quiet) as progress:
            index_video(input, on_frame=progress.advance)


def open_writer(
    path: Path, output: Path, info: VideoInfo, scale: int, options: TranscodeOptions,
    offset_seconds: float, first_index: int = 0,
) -> VideoFileWriter | FrameFolderWriter:
    """The writer for ``output``'s kind, writing to ``path`` (a temporary name)."""
    if output_kind(output) == "folder":
        return FrameFolderWriter(path, first_index)
    width, height = output_size(info, scale, output)
    return VideoFileWriter(
        path, CONTAINER_FORMATS[output.suffix.lower()], info, width, height,
        options.codec or default_codec(output), options.crf, offset_seconds, options.pix_fmt,
    )


def output_size(info: VideoInfo, scale: int, output: Path) -> tuple[int, int]:
    """(width, height) of the output frames: 4:2:0 video needs even sizes, so the last
    row/column is dropped rather than invented."""
    width, height = info.width * scale, info.height * scale
    if output_kind(output) == "video":
        width, height = width - width % 2, height - height % 2
    return width, height


def write_processed(
    results: Iterator[tuple[Frame, np.ndarray]], writer, size: tuple[int, int],
    processor: FrameProcessor, info: VideoInfo, on_frame,
) -> int:
    """Write each processed frame at its input frame's timestamp; returns the count."""
    width, height = size
    count = 0
    for frame, image in results:
        if image.shape[0] < height or image.shape[1] < width:
            raise VideoError(
                f"{processor!r} returned a {image.shape[1]}x{image.shape[0]} frame "
                f"for a {info.width}x{info.height} input at x{processor.scale}"
            )
        writer.write(image[:height, :width], frame.pts)
        count += 1
        on_frame(count)
    return count


def _transcode_once(
    input: str | Path, output: Path, processor: FrameProcessor, options: TranscodeOptions,
    outer: FrameProgress | None,
) -> TranscodeResult:
    """The whole clip in one pass, written under a temporary name, renamed when complete."""
    output_kind(output)
    started = time.perf_counter()
    with atomic_output(output, options.overwrite) as tmp:
        index_input(input, options.quiet)
        reader = open_reader(input, options.start, options.end, options.fps)
        info = reader.info
        writer = None
        try:
            writer = open_writer(tmp, output, info, processor.scale, options,
                                 reader.offset_seconds)
            writer.add_passthrough(reader.passthrough_streams, reader.container)
            if options.threaded:
                writer = ThreadedWriter(writer, max_items=max(8, 2 * options.batch))
            reader.on_packet = writer.mux_packet
            with clip_progress(options, reader.total, not options.quiet, outer) as show:
                results = process_frames(reader.frames(), processor, options.batch,
                                         options.padding)
                count = write_processed(
                    results, writer, output_size(info, processor.scale, output), processor,
                    info, show,
                )
            if count == 0:
                raise no_frames_error(info, options)
            writer.close()
            writer = None
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            reader.close()
    return TranscodeResult(output, count, time.perf_counter() - started)


def no_frames_error(info: VideoInfo, options: TranscodeOptions) -> VideoError:
    span = "" if options.start is None and options.end is None else (
        f" in [{options.start}, {options.end}) s"
    )
    return VideoError(f"{info.path}: no frames to process{span}")
