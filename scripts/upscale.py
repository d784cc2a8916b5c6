"""Upscale a video file or a folder of frames: ``python scripts/upscale.py -h``.

The same command as the ``vsr-upscale`` console script.
"""

import sys
from pathlib import Path

# Run from a checkout without installing: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsr.inference.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
