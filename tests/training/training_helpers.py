"""Shared helpers for the training and config tests (a uniquely named module).

Tiny generated datasets in the real layouts, Hydra composition of the real ``conf/`` with
the overrides that shrink a run to seconds on a CPU, and a synthetic in-memory batch source.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parents[2]
CONF_DIR = REPO / "conf"
SHARED_DATA = REPO / ".." / "shared" / "data"
EXPERIMENTS = (
    "edvr_m_reds_x4",
    "edvr_m_vimeo_x4_bd",
    "edvr_l_reds_x4",
    "tiny_multi",
    "release_tiny",
    "release_tiny_finetune",
)

#: Overrides that make any experiment a seconds-long CPU run on the fixtures below.
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


def frame(rng: np.random.Generator, size: int, t: int) -> np.ndarray:
    """A smooth moving pattern plus noise: (size, size, 3) uint8 RGB."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    base = 128 + 70 * np.sin((xx + 2 * t) / 3.0) * np.cos((yy - t) / 4.0)
    img = np.stack([base, np.roll(base, 2, axis=1), 255 - base], axis=-1)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img[..., ::-1])


def make_frames_tree(root: Path, clips: tuple[str, ...], frames: int = 5, size: int = 32) -> Path:
    """``root/<clip>/<i:08d>.png``: the REDS ``train_sharp`` and frame-folder layout."""
    rng = np.random.default_rng(0)
    for clip in clips:
        for i in range(frames):
            write_png(root / clip / f"{i:08d}.png", frame(rng, size, i))
    return root


def make_reds(root: Path) -> Path:
    """REDS with the REDS4 partition: 000/011/015/020 validate, 001/002 train (7 frames)."""
    make_frames_tree(root / "train_sharp", ("000", "001", "002", "011", "015", "020"), frames=7)
    return root


def make_vimeo(root: Path) -> Path:
    """Vimeo-90K septuplets: two train, one test sequence of 7 frames."""
    rng = np.random.default_rng(1)
    for seq in ("00001/0001", "00001/0002", "00002/0001"):
        for i in range(1, 8):
            write_png(root / "sequences" / seq / f"im{i}.png", frame(rng, 32, i))
    (root / "sep_trainlist.txt").write_text("00001/0001\n00001/0002\n")
    (root / "sep_testlist.txt").write_text("00002/0001\n")
    return root


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """``conf/train.yaml`` composed with ``overrides`` (outside a Hydra run)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*overrides, f"paths.output_dir={output_dir}"])


def python_env(extra_path: Path | None = None) -> dict[str, str]:
    """Environment for subprocesses running scripts/ from the repo (few threads each)."""
    import os

    env = dict(os.environ)
    paths = [str(REPO)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = ":".join(paths + [env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    return env


PYTHON = sys.executable


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


# ------------------------------------------------------------------ fixtures (conftests)
@pytest.fixture
def frames_root(tmp_path: Path) -> Path:
    """Frame folders: clips a, b train, c validates (5 frames of 32x32 each)."""
    return make_frames_tree(tmp_path / "frames", ("a", "b", "c"))


@pytest.fixture
def reds_root(tmp_path: Path) -> Path:
    return make_reds(tmp_path / "REDS")


@pytest.fixture
def vimeo_root(tmp_path: Path) -> Path:
    return make_vimeo(tmp_path / "vimeo")


@pytest.fixture
def two_videos(tmp_path: Path) -> Path:
    """A folder linking the two smallest real clips (skips without ../shared/data), plus a
    generated AVI of H.264 with B-frames (decode-order timestamps), which trains too."""
    from tests.video.awkward_videos import avi_bframes

    videos = SHARED_DATA / "videos"
    names = ("imageio_realshort.mp4", "mmagic_test_inference.mp4")
    if not all((videos / n).is_file() for n in names):
        pytest.skip(f"real test videos not found under {videos} (../shared/data beside the repo)")
    folder = tmp_path / "videos"
    folder.mkdir()
    for n in names:
        (folder / n).symlink_to((videos / n).resolve())
    avi_bframes(folder)  # bframes.avi: first in natural order, so a training clip
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is much faster on a busy machine (no spinning
    OpenMP threads). Module scope, so module-scoped fixtures that train run with it too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
