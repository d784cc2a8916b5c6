"""Builds the compiled extension `vsr._C` (the deformable convolution operator).

The C++ CPU kernels are always built. The CUDA kernels are built when nvcc and a CUDA build
of torch are both present, or forced/skipped with the environment variable VSR_CUDA:

    VSR_CUDA=1   build the CUDA kernels, fail if that is impossible
    VSR_CUDA=0   CPU kernels only
    (unset)      CUDA kernels when nvcc (CUDA_HOME) and a CUDA torch are found

TORCH_CUDA_ARCH_LIST selects GPU architectures as usual (e.g. "9.0" for an H100/H200). When
it is unset and no GPU is visible, a default list covering current data-centre and consumer
GPUs is used instead of torch's (which compiles for every architecture and takes long).

Build against the installed torch, without build isolation:
    pip install --no-build-isolation -e .
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# torch guesses CUDA_HOME from the directory of the first `nvcc` on PATH; a wrapper script in
# /usr/local/bin then makes it /usr/local, where the CUDA libraries are not. Prefer the
# standard toolkit location when the user has not chosen one.
if (
    not (os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"))
    and Path("/usr/local/cuda/bin/nvcc").exists()
):
    os.environ["CUDA_HOME"] = "/usr/local/cuda"

import torch  # noqa: E402
from torch.utils.cpp_extension import (  # noqa: E402
    CUDA_HOME,
    BuildExtension,
    CppExtension,
    CUDAExtension,
)

ROOT = Path(__file__).parent
CSRC = Path("vsr") / "csrc"
# Ampere, Ada, Hopper, plus PTX so newer GPUs (Blackwell) JIT-compile the kernels.
DEFAULT_CUDA_ARCHS = "8.0;8.6;8.9;9.0+PTX"


def want_cuda() -> bool:
    choice = os.environ.get("VSR_CUDA", "").strip()
    available = CUDA_HOME is not None and torch.version.cuda is not None
    if choice == "1":
        if not available:
            raise RuntimeError(
                "VSR_CUDA=1 but the CUDA kernels cannot be built: "
                f"CUDA_HOME={CUDA_HOME!r}, torch.version.cuda={torch.version.cuda!r}. "
                "Install the CUDA toolkit (nvcc) and a CUDA build of torch, or unset VSR_CUDA."
            )
        return True
    if choice == "0":
        return False
    if choice:
        raise RuntimeError(f"VSR_CUDA must be 0, 1 or unset: got {choice!r}")
    return available


def cuda_arch_list() -> str:
    archs = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if not archs and not torch.cuda.is_available():
        archs = DEFAULT_CUDA_ARCHS
        os.environ["TORCH_CUDA_ARCH_LIST"] = archs
    if not archs:  # torch picks the visible GPUs' architectures
        archs = ";".join(
            "{}.{}".format(*torch.cuda.get_device_capability(i))
            for i in range(torch.cuda.device_count())
        )
    return archs


def arch_tag(archs: str) -> str:
    """'8.6;9.0+PTX' -> 'sm86_sm90_ptx': a macro-safe token recorded in the build info."""
    parts = []
    for arch in archs.replace(",", ";").replace(" ", ";").split(";"):
        if arch:
            base = arch.replace("+PTX", "").replace(".", "")
            parts.append("sm" + base + ("_ptx" if arch.endswith("+PTX") else ""))
    return "_".join(parts)


def extension():
    sources = [str(CSRC / "deform_conv2d.cpp"), *map(str, sorted((CSRC / "cpu").glob("*.cpp")))]
    # at::parallel_for is an OpenMP region compiled into this extension: without -fopenmp
    # the CPU kernels would run on one core. -fno-trapping-math lets GCC turn the selects of
    # the forward's tap loop into vector code (results are the same; only floating-point
    # exception flags, which nothing here reads, could differ).
    extra_compile_args = {"cxx": ["-O3", "-fopenmp", "-fno-trapping-math"]}
    extra_link_args = ["-fopenmp"]
    if not want_cuda():
        return CppExtension(
            "vsr._C",
            sources,
            extra_compile_args=extra_compile_args,
            extra_link_args=extra_link_args,
        )
    tag = arch_tag(cuda_arch_list())
    sources += map(str, sorted((CSRC / "cuda").glob("*.cu")))
    extra_compile_args["nvcc"] = ["-O3"]
    return CUDAExtension(
        "vsr._C",
        sources,
        define_macros=[("VSR_WITH_CUDA", None), ("VSR_CUDA_ARCHS", tag)],
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
    )


class BuildPyWithResources(build_py):
    """Also copy the Hydra configs and the shipped weights into the package of a wheel.

    ``conf/`` and ``checkpoints/`` live at the top of the repository (where users and Hydra's
    docs expect them); a wheel has no such place, so they travel as ``vsr/conf`` and
    ``vsr/checkpoints`` (``vsr.resources`` looks there first). An editable install keeps
    reading the repository's own copies, so nothing is copied for it.
    """

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        package = Path(self.build_lib) / "vsr"
        shutil.copytree(ROOT / "conf", package / "conf", dirs_exist_ok=True)
        weights = package / "checkpoints"
        weights.mkdir(parents=True, exist_ok=True)
        for path in [*(ROOT / "checkpoints").glob("*.pt"), ROOT / "checkpoints" / "README.md"]:
            shutil.copy2(path, weights / path.name)


setup(
    ext_modules=[extension()],
    cmdclass={
        "build_ext": BuildExtension.with_options(use_ninja=True),
        "build_py": BuildPyWithResources,
    },
)
