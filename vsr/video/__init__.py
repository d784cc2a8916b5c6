"""Every way a clip comes in and goes out: the one owner of clip I/O, with PyAV and OpenCV.

Training (:mod:`vsr.data`), evaluation (:mod:`vsr.evaluation`) and upscaling
(:mod:`vsr.inference`) all read clips through this package, so they see the same frames in
the same order with the same colours:

- :mod:`~vsr.video.files`: listing frame and video folders in natural order (``frame2``
  before ``frame10``), reading an image as 8-bit RGB;
- :mod:`~vsr.video.index`: numbering every frame of a video in presentation order and
  timing it, whatever the container's timestamps (B-frames in AVI, repeated or missing
  timestamps, variable frame rate);
- :mod:`~vsr.video.access` and :mod:`~vsr.video.clips`: random access to frames by index
  (seek to the keyframe before, decode forward) that returns exactly what a linear decode
  returns, open GOPs included; :class:`Clip` for frame folders and video files;
- :mod:`~vsr.video.colour`: YUV -> RGB with the stream's own matrix and range;
- :mod:`~vsr.video.layouts`: the REDS and Vimeo-90K clip lists and names;
- :mod:`~vsr.video.errors`: :class:`VideoError` and its two kinds, a clip not found and a
  clip that cannot be read, each naming the file and the reason.

Typical use::

    from vsr.video import OpenCVBicubicProcessor, transcode
    transcode("in.mp4", "out.mkv", OpenCVBicubicProcessor(scale=2))

    from vsr.video import VideoClip
    frames = VideoClip("in.avi").read([10, 11, 12])  # (3, H, W, 3) uint8 RGB

What ``transcode`` keeps, and how:

- Frames: every frame the decoder returns, in order, each at its presentation time in the
  input's time base (variable frame rate stays variable; Matroska stores milliseconds, so
  times round to 1 ms there). ``start``/``end`` are positions from the start of the file,
  as ffmpeg's ``-ss``/``-to`` and players count; the output keeps the input's timing,
  moved back by ``start`` when one is given.
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

from vsr.video.access import VideoFile
from vsr.video.clips import Clip, FrameFolderClip, VideoClip
from vsr.video.colour import ColourInfo, frame_to_rgb, resolve_colour, rgb_to_frame
from vsr.video.errors import ClipNotFoundError, UnreadableClipError, VideoError
from vsr.video.files import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    list_folders,
    list_images,
    list_videos,
    natural_key,
    read_image,
    read_images,
)
from vsr.video.index import FrameIndex, index_video
from vsr.video.job import Alone, JobMismatchError, Team
from vsr.video.metadata import VideoInfo, probe
from vsr.video.options import TranscodeOptions
from vsr.video.pipeline import TranscodeResult, process_frames, transcode
from vsr.video.processors import FrameProcessor, OpenCVBicubicProcessor, opencv_bicubic
from vsr.video.reader import Frame, open_reader
from vsr.video.stream import batched, sliding_windows

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Alone",
    "OpenCVBicubicProcessor",
    "Clip",
    "ClipNotFoundError",
    "ColourInfo",
    "Frame",
    "FrameFolderClip",
    "FrameIndex",
    "FrameProcessor",
    "JobMismatchError",
    "Team",
    "TranscodeOptions",
    "TranscodeResult",
    "UnreadableClipError",
    "VideoClip",
    "VideoError",
    "VideoFile",
    "VideoInfo",
    "batched",
    "opencv_bicubic",
    "frame_to_rgb",
    "index_video",
    "list_folders",
    "list_images",
    "list_videos",
    "natural_key",
    "open_reader",
    "probe",
    "process_frames",
    "read_image",
    "read_images",
    "resolve_colour",
    "rgb_to_frame",
    "sliding_windows",
    "transcode",
]
