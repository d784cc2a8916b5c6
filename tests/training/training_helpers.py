"""Helpers for the training tests (a uniquely named module beside them): subprocess
environments for the scripts and a synthetic in-memory batch source. What the config tests
share with these is in tests/helpers.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from tests.helpers import REPO

PYTHON = sys.executable


def python_env(extra_path: Path | None = None) -> dict[str, str]:
    """Environment for subprocesses running scripts/ from the repo (few threads each)."""
    env = dict(os.environ)
    paths = [str(REPO)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = ":".join(paths + [env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    return env


class SyntheticClips(Dataset):
    """Random batches in the agreed format: ``lr`` (T, 3, 6, 6) and ``hr`` (3, 24, 24) at x4."""

    def __init__(self, n: int = 4, frames: int = 5, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.hr = torch.rand(n, 3, 24, 24, generator=g)
        self.lr = torch.rand(n, frames, 3, 6, 6, generator=g)

    def __len__(self) -> int:
        return self.hr.shape[0]

    def __getitem__(self, i: int) -> dict:
        return {
            "lr": self.lr[i],
            "hr": self.hr[i],
            "scale": torch.tensor(4),
            "degradation": torch.tensor(0),
            "strength": torch.tensor(0.0),
            "key": f"clip/{i:03d}",
        }


def synthetic_loader(n: int = 4, batch_size: int = 2) -> DataLoader:
    return DataLoader(SyntheticClips(n), batch_size=batch_size, shuffle=False)
