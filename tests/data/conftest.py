"""Fixtures for the data tests (the REDS tree is tests/conftest.py's ``reds_root``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import shared_path


@pytest.fixture
def vimeo_list(tmp_path: Path) -> Path:
    """A list file (kept outside the real tree) naming three real septuplets."""
    shared_path("vimeo90k_mini", "sequences")
    path = tmp_path / "lists" / "sep_trainlist.txt"
    path.parent.mkdir(parents=True)
    path.write_text("00001/0001\n00001/0005\n\n00002/0008\n")
    return path
