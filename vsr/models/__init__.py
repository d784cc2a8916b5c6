"""EDVR with PCD alignment, TSA fusion and an adaptive (conditional) reconstruction trunk."""

from vsr.models.basicsr import basicsr_edvr_config, load_basicsr_edvr
from vsr.models.blocks import TRUNK_CONVS, ResidualBlock
from vsr.models.edvr import EDVR, FrameFeatures, UpsampleHead
from vsr.models.introspect import (
    OffsetRecorder,
    capture_offsets,
    routing_table,
    sampling_points,
)
from vsr.models.layout import to_channels_last
from vsr.models.pcd import PCDAlignment
from vsr.models.presets import PRESETS, build_edvr, stored_config
from vsr.models.tsa import TSAFusion

__all__ = [
    "EDVR",
    "PRESETS",
    "TRUNK_CONVS",
    "FrameFeatures",
    "OffsetRecorder",
    "PCDAlignment",
    "ResidualBlock",
    "TSAFusion",
    "UpsampleHead",
    "basicsr_edvr_config",
    "build_edvr",
    "capture_offsets",
    "load_basicsr_edvr",
    "routing_table",
    "sampling_points",
    "stored_config",
    "to_channels_last",
]
