"""Reading and writing video with PyAV: streaming, timestamps, audio, subtitles, metadata.

Typical use::

    from vsr.video import BicubicProcessor, transcode
    transcode("in.mp4", "out.mkv", BicubicProcessor(scale=2))
"""

from vsr.video.colour import ColourInfo, frame_to_rgb, resolve_colour, rgb_to_frame
from vsr.video.errors import VideoError
from vsr.video.metadata import VideoInfo, probe
from vsr.video.pipeline import TranscodeResult, process_frames, transcode
from vsr.video.processors import BicubicProcessor, FrameProcessor, bicubic
from vsr.video.reader import Frame, open_reader
from vsr.video.stream import batched, sliding_windows

__all__ = [
    "BicubicProcessor",
    "ColourInfo",
    "Frame",
    "FrameProcessor",
    "TranscodeResult",
    "VideoError",
    "VideoInfo",
    "batched",
    "bicubic",
    "frame_to_rgb",
    "open_reader",
    "probe",
    "process_frames",
    "resolve_colour",
    "rgb_to_frame",
    "sliding_windows",
    "transcode",
]
