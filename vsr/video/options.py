"""How a clip is read, windowed and written: one options object for a transcode job."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vsr.video.segments import DEFAULT_SEGMENT_FRAMES


@dataclass(frozen=True)
class TranscodeOptions:
    """Options of :func:`vsr.video.transcode` (``vsr-upscale``'s options of the same names).

    Attributes:
        codec: video encoder (default libx264; libvpx-vp9 for .webm). crf: its quality.
        pix_fmt: output pixel format (default yuv420p, or the input's 4:4:4/4:2:2 chroma).
        start, end: the part of the input in seconds from the start of the file (as ffmpeg's
            ``-ss``/``-to``); the output keeps the input's timing, moved back by ``start``.
        fps: frame rate of a folder-of-frames input (default 25).
        batch: windows per processor call.
        padding: temporal window padding at the clip ends, ``reflect`` or ``replicate``.
        segment_frames: output frames per segment of a resumable job (see
            :mod:`vsr.video.job`); 0: one pass with no job folder (nothing to resume).
        restart: discard an earlier job for the same output instead of resuming it.
        overwrite: replace an existing output.
        quiet: no progress bar.
        threaded: encode on a background thread (overlaps with decoding and processing).
        description: the progress bar's label.
    """

    codec: str | None = None
    crf: int = 18
    pix_fmt: str | None = None
    start: float | None = None
    end: float | None = None
    fps: float | None = None
    batch: int = 1
    padding: str = "reflect"
    segment_frames: int = DEFAULT_SEGMENT_FRAMES
    restart: bool = False
    overwrite: bool = False
    quiet: bool = True
    threaded: bool = True
    description: str = "upscaling"

    def output_fields(self) -> dict:
        """The options that change the output's frames or encoding: a resumed job must
        match them (the others only change how the run is shown or scheduled)."""
        fields = asdict(self)
        for name in ("restart", "overwrite", "quiet", "threaded", "description"):
            fields.pop(name)
        return fields
