"""Prepare Vimeo-90K: check the septuplet tree and lists, write meta info, precompute LR.

python scripts/prepare_vimeo.py data/vimeo_septuplet
python scripts/prepare_vimeo.py data/vimeo_septuplet --scales 4 --degradations bicubic blur
"""

import sys

from vsr.data.prepare import vimeo_main

if __name__ == "__main__":
    sys.exit(vimeo_main())
