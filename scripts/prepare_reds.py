"""Prepare REDS: regroup the official validation clips, write meta info, precompute LR.

python scripts/prepare_reds.py data/REDS                      # regroup + meta info
python scripts/prepare_reds.py data/REDS --scales 2 3 4 --degradations bicubic blur
"""

import sys

from vsr.data.prepare import reds_main

if __name__ == "__main__":
    sys.exit(reds_main())
