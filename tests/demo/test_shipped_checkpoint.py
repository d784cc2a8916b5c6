"""The shipped weights (checkpoints/vsr_tiny.pt): format, size, conditions, and that they help.

Skipped when the file is absent (e.g. a source archive without weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vsr import demo
from vsr.data.degradations import degrade, imresize_clip
from vsr.inference import DEFAULT_CHECKPOINT, load_model, upscale_frames
from vsr.metrics import psnr

pytestmark = pytest.mark.skipif(
    not Path(DEFAULT_CHECKPOINT).is_file(), reason=f"{DEFAULT_CHECKPOINT} is not installed"
)

#: The issue's limit on the committed file.
MAX_BYTES = 20 * 1024 * 1024


def test_shipped_file_is_small_and_serves_every_condition() -> None:
    assert Path(DEFAULT_CHECKPOINT).stat().st_size < MAX_BYTES
    model = load_model()
    assert tuple(model.scales) == (2, 3, 4)
    assert model.config["trunk_conv"] == "cond_dynamic"
    # Trained EMA weights (v7), or (v5, v6) the mean of exported files (vsr-average), which
    # may themselves be means (v6 = mean of v5 and stage 11): every leaf is a trained EMA.
    def trained_sources(meta: dict) -> list[dict]:
        if meta["weights"] != "average":
            return [meta]
        return [leaf for source in meta["average_of"] for leaf in trained_sources(source["meta"])]

    sources = trained_sources(model.meta)
    assert sources
    for source in sources:
        assert source["global_step"] > 0 and source["weights"] == "ema"


def test_shipped_weights_beat_bicubic_at_x4_on_the_demo_pan() -> None:
    # A photo the network never saw (training used frames of video files only), x4 BI.
    truth = demo.make_clip(demo.sample_image("astronaut"), 5, (96, 64))
    low, _ = degrade(truth, 4, "bicubic")
    model_out = upscale_frames(load_model(), low, 4, "bicubic")
    base = imresize_clip(low, 4.0)
    gain = np.mean(
        [
            psnr(m, t, y_channel=True) - psnr(b, t, y_channel=True)
            for m, b, t in zip(model_out, base, truth, strict=True)
        ]
    )
    # Measured +1.98 dB for the shipped weights (v7); the previous releases gave +2.00, +1.99,
    # +1.97, +1.91, +1.68, +1.19 and +0.31.
    assert gain > 0.5


@pytest.mark.parametrize(
    "scale, degradation",
    [(2, "bicubic"), (3, "bicubic"), (4, "bicubic"), (4, "blur"), (4, "noise"),
     (4, "compression")],
)
def test_shipped_weights_in_bf16_keep_the_quality_of_fp32(scale: int, degradation: str) -> None:
    """bf16 (CPU autocast: convolutions and the deformable operator) within 0.05 dB of fp32."""
    truth = demo.make_clip(demo.sample_image("astronaut"), 5, (96, 72))
    low, _ = degrade(truth, scale, degradation)
    model = load_model()
    outputs, results = {}, {}
    for precision in ("fp32", "bf16"):
        outputs[precision] = upscale_frames(model, low, scale, degradation, precision=precision)
        results[precision] = np.mean(
            [psnr(o, t, y_channel=True) for o, t in zip(outputs[precision], truth, strict=True)]
        )
    assert not np.array_equal(outputs["bf16"], outputs["fp32"])  # bf16 really ran
    assert abs(results["bf16"] - results["fp32"]) <= 0.05, results
