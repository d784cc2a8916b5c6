"""Where the Hydra configs and the shipped weights are.

A wheel carries them inside the package (``vsr/conf``, ``vsr/checkpoints``: setup.py copies
the repository's top-level ``conf/`` and ``checkpoints/`` there when it builds one); a source
checkout or an editable install keeps them at the top of the repository, their one home.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _resource(name: str) -> Path:
    installed = _PACKAGE / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


#: The Hydra config tree (``train.yaml`` and its groups).
CONFIG_DIR: Path = _resource("conf")
#: The shipped weights and their model card.
CHECKPOINT_DIR: Path = _resource("checkpoints")
