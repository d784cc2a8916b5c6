"""Fixtures for the config tests (shared with tests/training)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from training_helpers import frames_root, one_thread, reds_root, two_videos, vimeo_root  # noqa: E402, F401
