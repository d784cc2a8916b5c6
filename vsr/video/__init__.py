"""Reading and writing video with PyAV: streaming, timestamps, audio, subtitles, metadata.

Typical use::

    from vsr.video import BicubicProcessor, transcode
    transcode("in.mp4", "out.mkv", BicubicProcessor(scale=2))

What is kept, and how:

- Frames: count, order and each frame's pts, in the input's time base (variable frame
  rate stays variable; Matroska stores milliseconds, so pts round to 1 ms there).
- Audio: packets copied when the output container takes the codec, otherwise re-encoded
  (AAC; Opus for WebM) with the first sample placed at its original time.
- Subtitles and attachments (fonts): copied where the container holds them (Matroska);
  dropped with a warning otherwise (e.g. ASS into MP4).
- Rotation: the display matrix is copied as metadata; pixels are not rotated (players
  rotate on display, as they did for the input). Flips in the matrix are not kept.
- Sample aspect ratio: copied (both axes grow by the same factor).
- Colour: frames are converted with the stream's own matrix and range (untagged streams:
  BT.709 for HD, BT.601 for SD); the output is tagged with the matrix and range used and
  the input's primaries and transfer. 10-bit and 4:4:4 inputs decode exactly; output is
  8-bit 4:2:0 unless the input is 4:4:4/4:2:2 and the codec can keep it (``pix_fmt``).
- Sizes: video output is cropped to even width and height (4:2:0 needs it).
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
