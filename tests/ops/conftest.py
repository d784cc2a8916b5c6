"""The ``device`` fixture: operator tests run on the CPU and on CUDA where they can."""

from __future__ import annotations

import pytest
import torch

from vsr.ops import build_info


def _no_cuda_reason() -> str | None:
    if not torch.cuda.is_available():
        return "needs a CUDA GPU (torch.cuda.is_available() is False)"
    if build_info().get("cuda") != "1":
        return "vsr._C was built without CUDA kernels (VSR_CUDA=1; see scripts/check_cuda.sh)"
    return None


_NO_CUDA = _no_cuda_reason()
#: `-m cuda` selects the CUDA cases (scripts/check_cuda.sh); without CUDA they skip, saying why.
_CUDA = pytest.param(
    "cuda",
    marks=[pytest.mark.cuda, pytest.mark.skipif(_NO_CUDA is not None, reason=_NO_CUDA or "")],
)


@pytest.fixture(params=["cpu", _CUDA])
def device(request: pytest.FixtureRequest) -> str:
    """Each test runs on the CPU and on CUDA."""
    return request.param


@pytest.fixture(params=[_CUDA])
def cuda_device(request: pytest.FixtureRequest) -> str:
    """For what only the CUDA kernels do (float16, atomic backward, chunked batches)."""
    return request.param
