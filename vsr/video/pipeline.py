"""The streaming pipeline: decode -> temporal windows -> processor -> encode, in one pass."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vsr.video.errors import VideoError
from vsr.video.index import index_video
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
    """What a run produced: ``frames`` written to ``output`` in ``seconds``."""

    output: Path
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def process_frames(
    frames: Iterator[Frame], processor: FrameProcessor, batch: int = 1, padding: str = "reflect"
) -> Iterator[tuple[Frame, np.ndarray]]:
    """Run ``processor`` over the sliding windows of ``frames`` (``padding`` at the ends).

    Yields:
        (the centre input frame, its processed (sH, sW, 3) uint8 image), in input order.
    """
    windows = sliding_windows(frames, processor.num_frames, padding)
    for group in batched(windows, batch):
        stack = np.stack([[f.image for f in window] for window in group])  # (N, T, H, W, 3)
        outputs = processor(stack)
        for window, image in zip(group, outputs, strict=True):
            yield window[len(window) // 2], image


def transcode(
    input: str | Path,
    output: str | Path,
    processor: FrameProcessor,
    *,
    codec: str | None = None,
    crf: int = 18,
    pix_fmt: str | None = None,
    start: float | None = None,
    end: float | None = None,
    fps: float | None = None,
    batch: int = 1,
    padding: str = "reflect",
    overwrite: bool = False,
    quiet: bool = True,
    threaded: bool = True,
    description: str = "upscaling",
) -> TranscodeResult:
    """Process a video file (or a folder of frames) into a video file (or a folder of PNGs).

    Streams: only the processor's temporal window (plus ``batch`` windows) is in memory.
    Keeps each frame's timestamp, the frame rate, audio and subtitle streams (copied, or
    audio re-encoded where the container needs it), rotation (as metadata), sample aspect
    ratio and colour tags. Odd output sizes are cropped by one pixel to even.

    Args:
        input: video file or folder of frames.
        output: ``.mp4``/``.mkv``/``.mov``/``.webm`` file, or a folder for PNG frames.
        processor: maps (N, T, H, W, 3) uint8 windows to (N, sH, sW, 3) uint8 frames.
        codec: video encoder (default libx264, libvpx-vp9 for .webm); crf: its quality.
        pix_fmt: output pixel format (default yuv420p, or the input's 4:4:4/4:2:2 chroma).
        start, end: segment of the input in seconds from the start of the file (as ffmpeg's
            ``-ss``/``-to`` and players count); the output keeps the input's timing
            (shifted by the segment's start when ``start`` is given).
        fps: frame rate of a folder-of-frames input (default 25).
        batch: windows per processor call.
        padding: temporal window padding at the clip ends, ``reflect`` or ``replicate``.
        overwrite: replace an existing output.
        quiet: no progress bar.
        threaded: encode on a background thread (overlaps with decoding and the processor).

    Raises:
        VideoError: bad input or output (see the message); no file is left at ``output``.
    """
    output = Path(output)
    kind = output_kind(output)
    codec = codec or default_codec(output)
    started = time.perf_counter()
    with atomic_output(output, overwrite) as tmp:
        if Path(input).is_file():
            # Number every frame first (one decode without colour conversion), so frames are
            # never lost to the container's timestamps; cached for the reader below.
            with FrameProgress(f"indexing {Path(input).name}", None, quiet) as progress:
                index_video(input, on_frame=progress.advance)
        reader = open_reader(input, start, end, fps)
        info = reader.info
        writer = None
        try:
            width, height = info.width * processor.scale, info.height * processor.scale
            if kind == "video":
                # 4:2:0 chroma needs even sizes: drop the last row/column rather than invent one.
                width, height = width - width % 2, height - height % 2
                writer = VideoFileWriter(
                    tmp, CONTAINER_FORMATS[output.suffix.lower()], info, width, height,
                    codec, crf, reader.offset_seconds, pix_fmt,
                )
            else:
                writer = FrameFolderWriter(tmp)
            writer.add_passthrough(reader.passthrough_streams)
            if threaded:
                writer = ThreadedWriter(writer, max_items=max(8, 2 * batch))
            reader.on_packet = writer.mux_packet
            total = getattr(reader, "total", None) or info.estimated_frames(start, end)
            count = 0
            with FrameProgress(description, total, quiet) as progress:
                for frame, image in process_frames(reader.frames(), processor, batch, padding):
                    if image.shape[0] < height or image.shape[1] < width:
                        raise VideoError(
                            f"{processor!r} returned a {image.shape[1]}x{image.shape[0]} frame "
                            f"for a {info.width}x{info.height} input at x{processor.scale}"
                        )
                    writer.write(image[:height, :width], frame.pts)
                    count += 1
                    progress.advance()
            if count == 0:
                segment = "" if start is None and end is None else f" in [{start}, {end}) s"
                raise VideoError(f"{info.path}: no frames to process{segment}")
            writer.close()
            writer = None
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            reader.close()
    return TranscodeResult(output, count, time.perf_counter() - started)
