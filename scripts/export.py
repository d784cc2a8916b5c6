#!/usr/bin/env python
"""Export a training checkpoint: ``python scripts/export.py last.ckpt model.pt``.

The same as the ``vsr-export`` console script (see :mod:`vsr.training.export`).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsr.training.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
