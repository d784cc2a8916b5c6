"""Helpers shared by the test folders: ``from tests.helpers import ...``.

``tests`` is a regular package and ``pythonpath = ["."]`` (pyproject.toml) puts the repository
first on ``sys.path``, so ``tests`` is always this checkout's folder, even where an installed
distribution also ships one. cv2 and Hydra are imported where used: tests/conftest.py imports
this module in every run, and scripts/check_cuda.sh runs tests/ops on GPU machines that may
have neither.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
#: Real videos, Vimeo-90K septuplets and LR clips beside the repository (not in git).
SHARED_DATA = REPO / ".." / "shared" / "data"

EXPERIMENTS = (
    "edvr_m_reds_x4",
    "edvr_m_vimeo_x4_bd",
    "edvr_l_reds_x4",
    "tiny_multi",
    "release_tiny",
    "release_tiny_finetune",
    "release_tiny_v2",
    "gpu_m",
)

#: Overrides that make any experiment a seconds-long CPU run on the tiny fixture trees.
SHRINK = [
    "data.pin_memory=false",
    "data.train.patch_size=24",
    "data.train.batch_size=2",
    "data.train.num_workers=0",
    "data.val.num_workers=0",
    "data.val.crop_size=24",
    "data.val.max_windows=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (../shared/data beside the repo)")
    return path


def textured_frame(rng: np.random.Generator, h: int, w: int, t: int = 0) -> np.ndarray:
    """A smooth pattern moving with ``t``, plus noise: an (h, w, 3) uint8 RGB frame."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 70 * np.sin((xx + 2 * t) / 4.0) * np.cos((yy - t) / 5.0)
    img = np.stack([base, np.roll(base, 3, axis=1), 255 - base], axis=-1)
    img += rng.normal(0, 10, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_rgb(path: Path, img: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG, creating the folder."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img[..., ::-1])


def make_frames_tree(root: Path, clips: tuple[str, ...], frames: int = 5, size: int = 32) -> Path:
    """``root/<clip>/<i:08d>.png``: the frame-folder layout (and REDS' ``train_sharp``)."""
    rng = np.random.default_rng(0)
    for clip in clips:
        for i in range(frames):
            write_rgb(root / clip / f"{i:08d}.png", textured_frame(rng, size, size, i))
    return root


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """``conf/train.yaml`` composed with ``overrides`` (outside a Hydra run)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*overrides, f"paths.output_dir={output_dir}"])
