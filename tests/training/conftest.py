"""Fixtures for the training tests: tiny datasets on disk in the real layouts."""

from training_helpers import frames_root, one_thread, reds_root, two_videos, vimeo_root  # noqa: F401
