"""Loading BasicSR EDVR checkpoints: key layout, strictness, and BasicSR's forward maths.

The state dict is written out here from BasicSR's EDVR-M architecture (key names and shapes
of ``basicsr/archs/edvr_arch.py``), filled with random values; the reference forward below
re-implements BasicSR's EDVR functionally (frame loop, bilinear base) on those tensors.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch.nn import functional as F

from vsr.models import OffsetRecorder, load_basicsr_edvr

C, T, G = 64, 5, 8  # EDVR-M: channels, frames, deformable groups


def _conv(shapes: dict, name: str, cin: int, cout: int, k: int = 3) -> None:
    shapes[f"{name}.weight"] = (cout, cin, k, k)
    shapes[f"{name}.bias"] = (cout,)


def basicsr_edvr_m_shapes(extract: int = 5, reconstruct: int = 10) -> dict[str, tuple]:
    s: dict[str, tuple] = {}
    _conv(s, "conv_first", 3, C)
    for i in range(extract):
        _conv(s, f"feature_extraction.{i}.conv1", C, C)
        _conv(s, f"feature_extraction.{i}.conv2", C, C)
    for name in ("conv_l2_1", "conv_l2_2", "conv_l3_1", "conv_l3_2"):
        _conv(s, name, C, C)
    p = "pcd_align"
    for lvl in ("l3", "l2", "l1"):
        _conv(s, f"{p}.offset_conv1.{lvl}", 2 * C, C)
        _conv(s, f"{p}.offset_conv2.{lvl}", C if lvl == "l3" else 2 * C, C)
        if lvl != "l3":
            _conv(s, f"{p}.offset_conv3.{lvl}", C, C)
            _conv(s, f"{p}.feat_conv.{lvl}", 2 * C, C)
    for dcn in ("dcn_pack.l3", "dcn_pack.l2", "dcn_pack.l1", "cas_dcnpack"):
        _conv(s, f"{p}.{dcn}", C, C)
        _conv(s, f"{p}.{dcn}.conv_offset", C, 3 * G * 9)
    _conv(s, f"{p}.cas_offset_conv1", 2 * C, C)
    _conv(s, f"{p}.cas_offset_conv2", C, C)
    f = "fusion"
    _conv(s, f"{f}.temporal_attn1", C, C)
    _conv(s, f"{f}.temporal_attn2", C, C)
    _conv(s, f"{f}.feat_fusion", T * C, C, 1)
    _conv(s, f"{f}.spatial_attn1", T * C, C, 1)
    _conv(s, f"{f}.spatial_attn2", 2 * C, C, 1)
    _conv(s, f"{f}.spatial_attn3", C, C)
    _conv(s, f"{f}.spatial_attn4", C, C, 1)
    _conv(s, f"{f}.spatial_attn5", C, C)
    _conv(s, f"{f}.spatial_attn_l1", C, C, 1)
    _conv(s, f"{f}.spatial_attn_l2", 2 * C, C)
    _conv(s, f"{f}.spatial_attn_l3", C, C)
    _conv(s, f"{f}.spatial_attn_add1", C, C, 1)
    _conv(s, f"{f}.spatial_attn_add2", C, C, 1)
    for i in range(reconstruct):
        _conv(s, f"reconstruction.{i}.conv1", C, C)
        _conv(s, f"reconstruction.{i}.conv2", C, C)
    _conv(s, "upconv1", C, 4 * C)
    _conv(s, "upconv2", C, 4 * 64)
    _conv(s, "conv_hr", 64, 64)
    _conv(s, "conv_last", 64, 3)
    return s


def random_state(shapes: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, shape in shapes.items():
        fan_in = shape[1] * shape[2] * shape[3] if len(shape) == 4 else 1
        state[k] = torch.randn(shape, generator=g) * (0.5 / fan_in**0.5)
    return state


# ------------------------------------------------------- BasicSR's EDVR, written functionally
def _c(w: dict, name: str, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    weight = w[f"{name}.weight"]
    return F.conv2d(x, weight, w[f"{name}.bias"], stride, weight.shape[-1] // 2)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def _dcn(w: dict, name: str, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
    o1, o2, m = torch.chunk(_c(w, f"{name}.conv_offset", feat), 3, dim=1)
    return torchvision.ops.deform_conv2d(
        x,
        torch.cat([o1, o2], 1),
        w[f"{name}.weight"],
        w[f"{name}.bias"],
        padding=1,
        mask=torch.sigmoid(m),
    )


def _resblocks(w: dict, prefix: str, n: int, x: torch.Tensor) -> torch.Tensor:
    for i in range(n):
        x = x + _c(w, f"{prefix}.{i}.conv2", F.relu(_c(w, f"{prefix}.{i}.conv1", x)))
    return x


def _pcd(w: dict, nbr: list, ref: list) -> torch.Tensor:
    p = "pcd_align"
    up_off = up_feat = None
    for i in (3, 2, 1):
        lvl = f"l{i}"
        off = _lrelu(_c(w, f"{p}.offset_conv1.{lvl}", torch.cat([nbr[i - 1], ref[i - 1]], 1)))
        if i == 3:
            off = _lrelu(_c(w, f"{p}.offset_conv2.{lvl}", off))
        else:
            off = _lrelu(_c(w, f"{p}.offset_conv2.{lvl}", torch.cat([off, up_off], 1)))
            off = _lrelu(_c(w, f"{p}.offset_conv3.{lvl}", off))
        feat = _dcn(w, f"{p}.dcn_pack.{lvl}", nbr[i - 1], off)
        if i < 3:
            feat = _c(w, f"{p}.feat_conv.{lvl}", torch.cat([feat, up_feat], 1))
        if i > 1:
            feat = _lrelu(feat)
            up_off, up_feat = _up(off) * 2, _up(feat)
    off = _lrelu(_c(w, f"{p}.cas_offset_conv1", torch.cat([feat, ref[0]], 1)))
    off = _lrelu(_c(w, f"{p}.cas_offset_conv2", off))
    return _lrelu(_dcn(w, f"{p}.cas_dcnpack", feat, off))


def _tsa(w: dict, aligned: torch.Tensor) -> torch.Tensor:
    f = "fusion"
    b, t, c, h, wd = aligned.shape
    ref = _c(w, f"{f}.temporal_attn1", aligned[:, t // 2])
    probs = []
    for i in range(t):
        emb = _c(w, f"{f}.temporal_attn2", aligned[:, i])
        probs.append(torch.sigmoid((emb * ref).sum(1, keepdim=True)).expand(b, c, h, wd))
    x = torch.cat([aligned[:, i] * probs[i] for i in range(t)], 1)
    feat = _lrelu(_c(w, f"{f}.feat_fusion", x))

    def pools(a):
        return torch.cat([F.max_pool2d(a, 3, 2, 1), F.avg_pool2d(a, 3, 2, 1)], 1)

    attn = _lrelu(_c(w, f"{f}.spatial_attn1", x))
    attn = _lrelu(_c(w, f"{f}.spatial_attn2", pools(attn)))
    lvl = _lrelu(_c(w, f"{f}.spatial_attn_l1", attn))
    lvl = _lrelu(_c(w, f"{f}.spatial_attn_l2", pools(lvl)))
    lvl = _up(_lrelu(_c(w, f"{f}.spatial_attn_l3", lvl)))
    attn = _lrelu(_c(w, f"{f}.spatial_attn3", attn)) + lvl
    attn = _c(w, f"{f}.spatial_attn5", _up(_lrelu(_c(w, f"{f}.spatial_attn4", attn))))
    add = _c(w, f"{f}.spatial_attn_add2", _lrelu(_c(w, f"{f}.spatial_attn_add1", attn)))
    return feat * torch.sigmoid(attn) * 2 + add


def basicsr_edvr_forward(w: dict, x: torch.Tensor, extract=5, reconstruct=10) -> torch.Tensor:
    b, t, c, h, wd = x.shape
    l1 = _resblocks(w, "feature_extraction", extract, _lrelu(_c(w, "conv_first", x.flatten(0, 1))))
    l2 = _lrelu(_c(w, "conv_l2_2", _lrelu(_c(w, "conv_l2_1", l1, 2))))
    l3 = _lrelu(_c(w, "conv_l3_2", _lrelu(_c(w, "conv_l3_1", l2, 2))))
    levels = [f.reshape(b, t, *f.shape[1:]) for f in (l1, l2, l3)]
    ref = [f[:, t // 2] for f in levels]
    aligned = torch.stack([_pcd(w, [f[:, i] for f in levels], ref) for i in range(t)], 1)
    out = _resblocks(w, "reconstruction", reconstruct, _tsa(w, aligned))
    out = _lrelu(F.pixel_shuffle(_c(w, "upconv1", out), 2))
    out = _lrelu(F.pixel_shuffle(_c(w, "upconv2", out), 2))
    out = _c(w, "conv_last", _lrelu(_c(w, "conv_hr", out)))
    base = F.interpolate(x[:, t // 2], scale_factor=4, mode="bilinear", align_corners=False)
    return out + base


# ----------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def edvr_m_state() -> dict[str, torch.Tensor]:
    return random_state(basicsr_edvr_m_shapes())


def test_loads_strictly_and_every_tensor_lands_in_place(edvr_m_state) -> None:
    model = load_basicsr_edvr({"params": edvr_m_state})
    assert model.config["num_feat"] == C and model.num_frames == T and model.scales == (4,)
    assert model.config["deformable_groups"] == G and model.config["trunk_conv"] == "static"
    ours = model.state_dict()
    assert len(ours) == len(edvr_m_state)
    for key, value in edvr_m_state.items():
        target = (
            f"heads.x4.{key}"
            if key.split(".")[0] in {"upconv1", "upconv2", "conv_hr", "conv_last"}
            else key
        )
        assert torch.equal(ours[target], value), key


def test_output_equals_basicsr_forward(edvr_m_state) -> None:
    model = load_basicsr_edvr({"params_ema": edvr_m_state})
    x = torch.rand(1, T, 3, 8, 12, generator=torch.Generator().manual_seed(3))
    with torch.no_grad(), OffsetRecorder(model) as offsets:
        ours = model(x, scale=4)
        ref = basicsr_edvr_forward(edvr_m_state, x)
    assert max(offsets.magnitudes().values()) > 0.05  # the DCNs really deform
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_prefers_ema_weights_and_reads_files(edvr_m_state, tmp_path) -> None:
    other = {k: v + 1 for k, v in edvr_m_state.items()}
    path = tmp_path / "EDVR_M_x4_SR_REDS.pth"
    torch.save({"params": other, "params_ema": edvr_m_state}, path)
    model = load_basicsr_edvr(path)
    assert torch.equal(model.conv_first.weight, edvr_m_state["conv_first.weight"])
    model = load_basicsr_edvr(path, param_key="params")
    assert torch.equal(model.conv_first.weight, other["conv_first.weight"])
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_basicsr_edvr(tmp_path / "nope.pth")


def test_missing_and_unknown_keys_are_listed(edvr_m_state) -> None:
    broken = dict(edvr_m_state)
    del broken["fusion.spatial_attn3.bias"]
    broken["fusion.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as err:
        load_basicsr_edvr(broken)
    assert "fusion.spatial_attn3.bias" in str(err.value)
    assert "fusion.extra.weight" in str(err.value)


def test_not_an_edvr_checkpoint_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a BasicSR EDVR state dict"):
        load_basicsr_edvr({"params": {"conv.weight": torch.zeros(1)}})
    with pytest.raises(ValueError, match="no 'params_ema' entry"):
        load_basicsr_edvr({"params": {}}, param_key="params_ema")
