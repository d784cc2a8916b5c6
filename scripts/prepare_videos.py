"""Extract video files into frame folders for training (data=frames), optionally downscaled.

python scripts/prepare_videos.py data/videos data/frames --max-frames 150 --max-short-side 360
"""

import sys

from vsr.data.extract import main

if __name__ == "__main__":
    sys.exit(main())
