"""Deformable convolution: the compiled operator `torch.ops.vsr.deform_conv2d` and modules.

Importing this package loads the extension `vsr._C` and raises ImportError (with how to
build it) when it is missing or stale.
"""

from vsr.ops._extension import build_info
from vsr.ops.deform_conv import deform_conv2d
from vsr.ops.modules import DCNv2Pack, DeformConv2d

__all__ = ["DCNv2Pack", "DeformConv2d", "build_info", "deform_conv2d"]
