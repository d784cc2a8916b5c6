"""vsr: video super-resolution with deformable alignment and conditional dynamic convolution."""

__version__ = "0.1.0"
