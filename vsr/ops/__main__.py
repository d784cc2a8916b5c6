"""`python -m vsr.ops`: what the compiled extension was built with and what it can run."""

from __future__ import annotations

import torch

import vsr
from vsr.ops import build_info


def main() -> None:
    info = build_info()
    cuda_built = info.get("cuda") == "1"
    print(f"vsr {vsr.__version__}: extension vsr._C")
    print(f"  built against torch  {info['torch']} (running {torch.__version__})")
    print("  CPU kernels          float32, float64, bfloat16")
    if cuda_built:
        print(f"  CUDA kernels         float32, float16, bfloat16; archs {info['cuda_archs']}")
    else:
        print("  CUDA kernels         not built (rebuild with VSR_CUDA=1 and nvcc to add them)")
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        capability = "{}.{}".format(*torch.cuda.get_device_capability(0))
        print(f"  GPU visible          {', '.join(names)} (compute capability {capability})")
    else:
        print("  GPU visible          none")


if __name__ == "__main__":
    main()
