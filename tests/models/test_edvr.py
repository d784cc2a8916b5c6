"""EDVR behaviour: scales and sizes, alignment at init, gradients, conditions, presets."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch.nn import functional as F

import vsr.ops.modules
from vsr.models import EDVR, TRUNK_CONVS, FrameFeatures, OffsetRecorder, build_edvr
from vsr.nn import KernelBankConv2d
from vsr.ops import DCNv2Pack


def _tiny(**overrides) -> EDVR:
    torch.manual_seed(0)
    return build_edvr("tiny", num_frame=3, **overrides)


def _frames(b: int = 1, h: int = 12, w: int = 12, t: int = 3) -> torch.Tensor:
    return torch.rand(b, t, 3, h, w, generator=torch.Generator().manual_seed(1))


def _dcns(model: EDVR) -> dict[str, DCNv2Pack]:
    return {n: m for n, m in model.named_modules() if isinstance(m, DCNv2Pack)}


def _perturb_offsets(model: EDVR, std: float = 0.05) -> None:
    """Give every offset branch non-zero weights so the DCNs really deform."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for dcn in _dcns(model).values():
            w = dcn.conv_offset.weight
            w.copy_(torch.randn(w.shape, generator=g) * std)


@pytest.mark.parametrize("trunk_conv", TRUNK_CONVS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_scale_on_odd_sizes_adds_the_bicubic_centre_frame(
    trunk_conv: str, scale: int
) -> None:
    model = _tiny(trunk_conv=trunk_conv).eval()
    frames = _frames(h=7, w=9)
    with torch.no_grad():
        out = model(frames, scale=scale, degradation="blur")
        head = model.heads[f"x{scale}"].conv_last
        head.weight.zero_()
        head.bias.zero_()
        base_only = model(frames, scale=scale, degradation="blur")
    expected = F.interpolate(frames[:, 1], scale_factor=scale, mode="bicubic", align_corners=False)
    assert out.shape == (1, 3, 7 * scale, 9 * scale)
    torch.testing.assert_close(base_only, expected)
    # The network contributes a residual on top of the base.
    assert (out - expected).abs().mean() > 1e-4


def test_zero_offsets_at_init_make_every_dcn_a_half_weight_conv() -> None:
    model = _tiny()
    dcns = _dcns(model)
    assert set(dcns) == {
        "pcd_align.dcn_pack.l3",
        "pcd_align.dcn_pack.l2",
        "pcd_align.dcn_pack.l1",
        "pcd_align.cas_dcnpack",
    }
    x, feat = torch.randn(2, 32, 9, 10), torch.randn(2, 32, 9, 10)
    for name, dcn in dcns.items():
        # conv_offset is zero: offsets 0 and mask sigmoid(0) = 0.5 at every tap.
        expected = F.conv2d(x, 0.5 * dcn.weight, dcn.bias, padding=1)
        torch.testing.assert_close(dcn(x, feat), expected, rtol=1e-5, atol=1e-5, msg=name)


def test_gradients_reach_offset_branches_and_every_expert() -> None:
    model = _tiny(trunk_conv="cond_dynamic", routing_content=True)
    frames = _frames(b=2)
    # At init the offset convs are zero, so first only they can receive gradient.
    model(frames, scale=3, degradation=torch.tensor([0, 3])).mean().backward()
    for name, dcn in _dcns(model).items():
        assert dcn.conv_offset.weight.grad.abs().sum() > 0, name
    model.zero_grad()
    _perturb_offsets(model)
    model(frames, scale=3, degradation=torch.tensor([0, 3])).mean().backward()
    pcd = model.pcd_align
    for conv in [*pcd.offset_conv1.values(), pcd.cas_offset_conv1, pcd.cas_offset_conv2]:
        assert conv.weight.grad.abs().sum() > 0
    banks = [m for m in model.modules() if isinstance(m, KernelBankConv2d)]
    assert len(banks) == 2 * 4
    for bank in banks:
        per_expert = bank.weight.grad.abs().flatten(1).sum(1)
        assert bool((per_expert > 0).all())
    assert model.condition.scale_embed.weight.grad[1].abs().sum() > 0  # scale 3 is index 1


@pytest.mark.parametrize("trunk_conv", ["cond_dynamic", "dynamic", "dynamic_filter"])
def test_mixed_degradations_in_one_batch_match_single_runs(trunk_conv: str) -> None:
    model = _tiny(trunk_conv=trunk_conv).eval()
    frames = _frames(b=2)
    with torch.no_grad():
        for bank in model.reconstruction.modules():
            if hasattr(bank, "weight") and bank.weight.dim() == 5:
                bank.weight.mul_(10)  # residual blocks start at 0.1 scale: make experts count
        both = model(frames, 4, torch.tensor([1, 2]), torch.tensor([0.4, 0.9]))
        first = model(frames[:1], 4, "blur", torch.tensor([0.4]))
        second = model(frames[1:], 4, "noise", torch.tensor([0.9]))
        swapped = model(frames[:1], 4, "noise", torch.tensor([0.9]))
    torch.testing.assert_close(both, torch.cat([first, second]), rtol=1e-5, atol=1e-5)
    if trunk_conv == "cond_dynamic":
        assert (swapped - first).abs().max() > 1e-4  # the condition changes the output


def test_per_frame_features_reused_across_windows_give_each_window_its_output() -> None:
    """What vsr-upscale relies on: a frame's features do not depend on its window."""
    model = _tiny().eval()
    _perturb_offsets(model)
    clip = torch.rand(4, 3, 10, 14, generator=torch.Generator().manual_seed(3))
    windows = torch.stack([clip[0:3], clip[1:4]])  # two windows sharing frames 1 and 2
    with torch.no_grad():
        per_frame = [model.extract_features(frame[None]) for frame in clip]  # one at a time
        order = (0, 1, 2, 1, 2, 3)
        features = FrameFeatures.cat([per_frame[i] for i in order])
        reused = model.restore(features, clip[1:3], 3, "noise")
        whole = model(windows, 3, "noise")
    torch.testing.assert_close(reused, whole, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"of 2 windows of 3 frames \(6 frames\), got 3"):
        model.restore(FrameFeatures.cat(per_frame[:3]), clip[1:3], 3)
    with pytest.raises(ValueError, match="of 1 windows of 3 frames"):
        model.restore(features, clip[1:2], 3)


def test_frame_features_crop_cat_and_measure_by_pyramid_level() -> None:
    model = _tiny().eval()
    with torch.no_grad():
        a = model.extract_features(torch.rand(1, 3, 10, 14))  # padded to 12 x 16
        b = model.extract_features(torch.rand(2, 3, 10, 14))
    assert a.size == (12, 16) and a.batch_size == 1 and len(a.levels) == len(a.projections) == 3
    assert a.nbytes == sum(f.nbytes for f in (*a.levels, *a.projections))
    both = FrameFeatures.cat([a, b])
    assert both.batch_size == 3
    assert torch.equal(both.projections[2][1:], b.projections[2])
    crop = both.crop(4, 12, 8, 16)
    for full, part, stride in zip(both.levels + both.projections,
                                  crop.levels + crop.projections, (1, 2, 4) * 2, strict=True):
        assert torch.equal(part, full[..., 4 // stride :, 8 // stride :])
    assert both.map(lambda f: f[:1]).batch_size == 1
    with pytest.raises(ValueError, match="multiples of 4"):
        both.crop(2, 12, 0, 16)


def test_aligning_fewer_frames_per_pass_gives_the_same_output() -> None:
    """frames_per_alignment only changes how much is computed at once (memory)."""
    model = build_edvr("tiny", num_frame=5).eval()
    _perturb_offsets(model)
    with torch.no_grad():  # a residual well above rounding, so a wrong order would show
        model.heads["x2"].conv_last.weight.mul_(100)
    frames = _frames(b=2, h=16, w=20, t=5)
    with torch.no_grad():
        features = model.extract_features(frames.flatten(0, 1))
        whole = model.restore(features, frames[:, 2], 2, "blur")
        for per_pass in (1, 2, 4):
            part = model.restore(features, frames[:, 2], 2, "blur", frames_per_alignment=per_pass)
            torch.testing.assert_close(part, whole, rtol=1e-4, atol=1e-4)
        # The windows' frames really differ: a wrong frame order per pass would show.
        swapped = model.restore(
            features.map(lambda f: f.reshape(2, 5, *f.shape[1:]).flip(1).flatten(0, 1)),
            frames[:, 2], 2, "blur", frames_per_alignment=2,
        )
        assert (swapped - whole).abs().max() > 1e-2


def test_eval_mode_is_deterministic() -> None:
    model = _tiny().eval()
    frames = _frames(b=2, h=13, w=11)
    with torch.no_grad():
        assert torch.equal(model(frames, 2, "compression"), model(frames, 2, "compression"))


def _torchvision_dcn_forward(self: DCNv2Pack, x: torch.Tensor, feat: torch.Tensor):
    """DCNv2Pack's agreed semantics on torchvision's operator (what BasicSR runs)."""
    o1, o2, m = torch.chunk(self.conv_offset(feat), 3, dim=1)
    return torchvision.ops.deform_conv2d(
        x,
        torch.cat((o1, o2), dim=1),
        self.weight,
        self.bias,
        stride=self.conv_offset.stride,
        padding=self.conv_offset.padding,
        dilation=self.conv_offset.dilation,
        mask=torch.sigmoid(m),
    )


@pytest.mark.parametrize("swap", ["operator", "module"])
def test_output_equals_torchvision_operator(monkeypatch: pytest.MonkeyPatch, swap: str) -> None:
    model = _tiny(trunk_conv="static").eval()
    _perturb_offsets(model, std=1.0)
    frames = _frames(b=2, h=12, w=16)
    with torch.no_grad(), OffsetRecorder(model) as offsets:
        ours = model(frames, 4)
        assert min(offsets.magnitudes().values()) > 0.2  # offsets are really non-zero
        if swap == "operator":  # the function DCNv2Pack calls
            monkeypatch.setattr(vsr.ops.modules, "deform_conv2d", torchvision.ops.deform_conv2d)
        else:  # the whole forward, written from the agreed DCNv2Pack semantics
            monkeypatch.setattr(DCNv2Pack, "forward", _torchvision_dcn_forward)
        theirs = model(frames, 4)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset,published", [("m", 3.3e6), ("l", 20.6e6)])
def test_static_presets_have_published_parameter_counts(preset: str, published: float) -> None:
    model = build_edvr(preset, trunk_conv="static", scales=(4,))
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - published) / published < 0.05, count


def test_unknown_scale_and_degradation_raise_with_valid_values() -> None:
    model = _tiny(scales=(2, 4))
    frames = _frames()
    with pytest.raises(ValueError, match=r"unknown scale 3: this model serves scales 2, 4"):
        model(frames, scale=3)
    with pytest.raises(ValueError, match=r"unknown degradation 'jpeg'.*bicubic, blur, noise"):
        model(frames, scale=2, degradation="jpeg")
    with pytest.raises(ValueError, match=r"frames must have shape \(B, T=3, 3, H, W\)"):
        model(_frames(t=5), scale=2)
    with pytest.raises(ValueError, match="one scale per batch"):
        model(_frames(b=2), scale=torch.tensor([2, 4]))


def test_bad_build_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown trunk_conv 'fancy'"):
        build_edvr("tiny", trunk_conv="fancy")
    with pytest.raises(ValueError, match="unknown EDVR preset 'xl'"):
        build_edvr("xl")
    with pytest.raises(ValueError, match="unknown EDVR option.*num_feats"):
        build_edvr("tiny", num_feats=3)
    with pytest.raises(ValueError, match="num_frame must be odd"):
        build_edvr("tiny", num_frame=4)


def test_config_rebuilds_the_same_architecture() -> None:
    model = _tiny(trunk_conv="dynamic", scales=(3,), with_tsa=False).eval()
    clone = build_edvr(**model.config).eval()
    clone.load_state_dict(model.state_dict(), strict=True)
    frames = _frames(h=8, w=8)
    with torch.no_grad():
        torch.testing.assert_close(clone(frames, 3), model(frames, 3))
    assert clone.config == model.config and clone.scales == (3,) and clone.num_frames == 3


@pytest.mark.parametrize("trunk_conv", ["static", "cond_dynamic"])
def test_deepened_trunk_computes_what_the_shallow_model_did_and_then_learns(
    trunk_conv: str,
) -> None:
    shallow = _tiny(trunk_conv=trunk_conv).eval()
    _perturb_offsets(shallow)
    torch.manual_seed(5)
    deep = build_edvr("tiny", num_frame=3, trunk_conv=trunk_conv, num_reconstruct_block=7)
    assert deep.load_shallower_trunk(shallow.state_dict()) == 3
    deep.eval()
    frames = _frames(h=16, w=20)
    with torch.no_grad():
        for scale, degradation in [(4, "bicubic"), (2, "compression"), (3, "noise")]:
            torch.testing.assert_close(
                deep(frames, scale, degradation), shallow(frames, scale, degradation),
                rtol=0, atol=0,
            )
    # The file's blocks are kept; the new ones are not frozen: one step changes them.
    for k, v in shallow.state_dict().items():
        assert torch.equal(deep.state_dict()[k], v), k
    deep.train()
    deep(frames, 4).abs().mean().backward()
    new_block = deep.reconstruction[6]
    assert new_block.conv2.weight.grad.abs().sum() > 0


def test_deepening_refuses_a_trunk_that_is_not_shorter_or_other_weights() -> None:
    model = _tiny()
    with pytest.raises(ValueError, match="only a shorter trunk can be deepened"):
        model.load_shallower_trunk(_tiny().state_dict())
    narrower = build_edvr("tiny", num_frame=3, num_feat=16, num_reconstruct_block=2)
    deeper = build_edvr("tiny", num_frame=3, num_feat=16, num_reconstruct_block=3)
    bad = {k: v for k, v in narrower.state_dict().items() if not k.startswith("conv_first")}
    with pytest.raises(ValueError, match="missing.*conv_first"):
        deeper.load_shallower_trunk(bad)


def test_offset_recorder_sees_the_offsets_every_dcn_uses() -> None:
    model = _tiny(trunk_conv="static", max_offset=4.0)
    _perturb_offsets(model, std=0.1)
    raw = {}
    hooks = [
        dcn.conv_offset.register_forward_hook(
            lambda mod, inp, out, n=name: raw.__setitem__(n, out.detach())
        )
        for name, dcn in _dcns(model).items()
    ]
    with OffsetRecorder(model) as recorder:
        model(_frames())
        magnitudes = recorder.magnitudes()
    for h in hooks:
        h.remove()
    assert set(magnitudes) == set(raw) and len(raw) == 4
    for name, out in raw.items():
        offsets = 4.0 * torch.tanh(out[:, : 2 * out.shape[1] // 3] / 4.0)
        assert magnitudes[name] == pytest.approx(offsets.abs().mean().item(), rel=1e-4), name
    # Detached: later forwards are not recorded, and the model has no hooks left.
    model(_frames())
    assert recorder.magnitudes() == magnitudes
    assert not any(m._forward_hooks for m in model.modules())


def test_offset_recorder_records_only_while_enabled_and_averages_every_pass() -> None:
    model = _tiny(trunk_conv="static").eval()
    _perturb_offsets(model, std=0.1)
    frames = _frames(b=2)
    recorder = OffsetRecorder(model, enabled=False)
    with torch.no_grad():
        model(frames, 2)
        assert recorder.magnitudes() == {}
        recorder.enabled = True
        model(frames, 2)
        whole = recorder.magnitudes()
        recorder.reset()
        features = model.extract_features(frames.flatten(0, 1))
        model.restore(features, frames[:, 1], 2, frames_per_alignment=1)  # 3 passes per DCN
        per_pass = recorder.magnitudes()
    recorder.remove()
    assert whole.keys() == per_pass.keys()
    for name, value in whole.items():
        assert per_pass[name] == pytest.approx(value, rel=1e-5), name


def test_forward_is_pure_even_when_offsets_blow_up() -> None:
    """No host reads (device syncs on a GPU), no warnings, nothing stored on the DCNs.

    On the meta device tensors have shapes but no values: reading one (``float``,
    ``.item()``, ``bool``, ``.tolist()``) raises, as it would need a sync on a GPU.
    """
    model = _tiny(trunk_conv="cond_dynamic")
    _perturb_offsets(model, std=50.0)  # mean |offset| in the thousands of pixels
    dcns = _dcns(model)
    before = {name: dict(vars(dcn)) for name, dcn in dcns.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(_frames(), 2, "noise", 0.5).mean().backward()
    assert {name: vars(dcn) for name, dcn in dcns.items()} == before
    meta = model.to("meta")
    frames = _frames(b=2).to("meta")
    assert meta(frames, 3, "blur", 0.3).shape == (2, 3, 36, 36)
    features = meta.extract_features(frames.flatten(0, 1))
    assert meta.restore(features, frames[:, 1], 4, "noise", frames_per_alignment=1).shape == (
        2, 3, 48, 48
    )


def test_set_temperature_reaches_every_bank() -> None:
    model = _tiny(trunk_conv="dynamic")
    model.set_temperature(5.0)
    temps = {m.temperature for m in model.modules() if isinstance(m, KernelBankConv2d)}
    assert temps == {5.0}


@pytest.mark.parametrize("trunk_conv", ["dynamic", "cond_dynamic"])
def test_one_expert_trunk_equals_the_static_model(trunk_conv: str) -> None:
    static = _tiny(trunk_conv="static").eval()
    adaptive = _tiny(trunk_conv=trunk_conv, num_experts=1).eval()
    ours = adaptive.state_dict()
    for key, value in static.state_dict().items():
        ours[key] = value.reshape(ours[key].shape)  # banks hold one (1, O, C, k, k) expert
    adaptive.load_state_dict(ours)
    frames = _frames(b=2, h=9, w=10)
    with torch.no_grad():
        expected = static(frames, 3, "noise")
        torch.testing.assert_close(adaptive(frames, 3, "noise"), expected, rtol=1e-5, atol=1e-5)


def test_max_offset_bounds_every_dcn() -> None:
    model = _tiny(trunk_conv="static", max_offset=0.3)
    _perturb_offsets(model, std=3.0)
    with OffsetRecorder(model) as recorder:
        model(_frames())
    magnitudes = recorder.magnitudes()
    assert all(0.05 < v <= 0.3 for v in magnitudes.values()), magnitudes
