#!/usr/bin/env python
"""Train with Hydra: ``python scripts/train.py experiment=tiny_multi data.root=DIR``.

The same as the ``vsr-train`` console script (see :mod:`vsr.training.cli`).
"""

import sys
from pathlib import Path

# Run from a checkout without installing: make the repository's `vsr` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsr.training.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
