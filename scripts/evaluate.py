"""Evaluate a checkpoint or the bicubic baseline: ``python scripts/evaluate.py --help``.

Same as the ``vsr-eval`` console script.
"""

import sys
from pathlib import Path

# Run from a source checkout without installing: put the repository root on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vsr.evaluation.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
