"""Loads the compiled extension `vsr._C`, which registers the `torch.ops.vsr` operators.

There is deliberately no fallback: a missing or stale build is an ImportError that says how
to build it, never a silent switch to a slower implementation.
"""

from __future__ import annotations

import torch

BUILD_HINT = (
    "Build it from the repository root with `make install` "
    "(or `pip install --no-build-isolation -e .` inside your environment)."
)


def _load() -> None:
    try:
        from vsr import _C  # noqa: F401  (importing registers the operators)
    except ImportError as error:
        raise ImportError(
            f"vsr's compiled extension vsr._C could not be loaded ({error}). {BUILD_HINT}"
        ) from error
    built_with = build_info()["torch"]
    running = torch.__version__.split("+")[0]
    if built_with.split(".")[:2] != running.split(".")[:2]:
        raise ImportError(
            f"vsr._C was built against torch {built_with} but torch {running} is installed: "
            f"the build is stale. {BUILD_HINT}"
        )


def build_info() -> dict[str, str]:
    """What the extension was built with: torch version, CUDA kernels and architectures."""
    text = torch.ops.vsr._build_info()
    info = dict(item.split("=", 1) for item in text.split(";"))
    # The build records "sm86_sm90_ptx" for TORCH_CUDA_ARCH_LIST="8.6;9.0+PTX".
    archs: list[str] = []
    for token in filter(None, info.get("cuda_archs", "").split("_")):
        if token == "ptx" and archs:
            archs[-1] += "+PTX"
        else:
            archs.append(token.replace("sm", "sm_", 1))
    info["cuda_archs"] = " ".join(archs)
    return info


_load()
