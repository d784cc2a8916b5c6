#!/usr/bin/env python
"""``make demo``: upscale a generated sample clip with the shipped weights.

See :mod:`vsr.demo` (``python scripts/demo.py --help``).
"""

import sys
from pathlib import Path

# Run from a checkout without installing: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsr.demo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
