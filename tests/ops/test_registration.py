"""The operator's registration: opcheck, torch.compile, autocast, errors, modules, build info."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
import torchvision

import vsr.ops
from vsr.ops import DCNv2Pack, DeformConv2d, deform_conv2d


def small_args(dtype=torch.float64, use_mask=True, use_bias=True, requires_grad=True):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 6, 5, generator=gen, dtype=dtype)
    weight = torch.randn(4, 2, 3, 3, generator=gen, dtype=dtype)
    offset = torch.randn(2, 2 * 2 * 9, 6, 5, generator=gen, dtype=dtype)
    mask = torch.rand(2, 2 * 9, 6, 5, generator=gen, dtype=dtype) if use_mask else None
    bias = torch.randn(4, generator=gen, dtype=dtype) if use_bias else None
    tensors = [
        t.requires_grad_(requires_grad) if t is not None else None
        for t in (x, weight, offset, mask, bias)
    ]
    return (*tensors, 1, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("use_mask", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_opcheck(use_mask, use_bias):
    torch.library.opcheck(
        torch.ops.vsr.deform_conv2d.default, small_args(use_mask=use_mask, use_bias=use_bias)
    )


def test_torch_compile_traces_the_op_and_matches_eager():
    x, weight, offset, mask, bias, *_ = small_args(dtype=torch.float32, requires_grad=False)

    def layer(x, offset, mask):
        return torch.relu(deform_conv2d(x, offset, weight, bias, padding=1, mask=mask))

    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, offset, mask), layer(x, offset, mask))


def test_autocast_cpu_runs_in_bfloat16():
    """Like F.conv2d under CPU autocast: bfloat16 in and out, from float32 or bf16 inputs."""
    x, weight, offset, mask, bias, *_ = small_args(dtype=torch.float32, requires_grad=False)
    rounded = [t.bfloat16() for t in (x, offset, weight, bias, mask)]
    expected = deform_conv2d(*rounded[:4], padding=1, mask=rounded[4])  # the bf16 kernel
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
        conv = F.conv2d(x, weight.repeat(1, 2, 1, 1), bias, padding=1)
    assert out.dtype == conv.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_autocast_cpu_float16_runs_in_float32():
    """The CPU kernel has no float16 path: CPU autocast to float16 computes in float32."""
    x, weight, offset, mask, bias, *_ = small_args(dtype=torch.float32, requires_grad=False)
    expected = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    with torch.autocast("cpu", dtype=torch.float16):
        out = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_autocast_cpu_gradients_flow_to_float32_leaves():
    x, weight, offset, mask, bias, *_ = small_args(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    out.float().sum().backward()
    for leaf in (x, weight, offset, mask, bias):
        assert leaf.grad is not None and leaf.grad.dtype == torch.float32


def test_float16_is_a_clear_error_on_cpu():
    x, weight, offset, mask, bias, *_ = small_args(dtype=torch.float16, requires_grad=False)
    with pytest.raises(RuntimeError, match="CPU kernel supports float32, float64 and bfloat16"):
        deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(input=a["input"][0]), "input must be 4-D"),
        (lambda a: a.update(weight=a["weight"][:, :, :, :, None]), "weight must be 4-D"),
        (
            lambda a: a.update(offset=a["offset"][:, :35]),
            "offset.shape\\[1\\] is not valid: got 35, "
            "expected a positive multiple of 2 \\* kh \\* kw = 18",
        ),
        (
            lambda a: a.update(weight=torch.zeros(4, 3, 3, 3, dtype=torch.float64)),
            "must be a multiple of weight.shape\\[1\\]",
        ),
        (
            lambda a: a.update(mask=a["mask"][:, :9]),
            "mask.shape\\[1\\] is not valid: got 9, expected 18",
        ),
        (
            lambda a: a.update(offset=a["offset"][:1]),
            "offset.shape\\[0\\] is not valid: got 1, expected the batch size 2",
        ),
        (
            lambda a: a.update(offset=a["offset"][:, :, :4]),
            "offset's spatial size is not valid: got 4x5, expected the output size 6x5",
        ),
        (
            lambda a: a.update(bias=a["bias"][:2]),
            "bias shape is not valid: got \\(2\\), expected \\(4\\)",
        ),
        (
            lambda a: a.update(offset=a["offset"].float()),
            "offset must have the same dtype as input",
        ),
        (lambda a: a.update(input=a["input"].long()), "input must be a floating-point tensor"),
        (lambda a: a.update(stride=0), "stride must be positive"),
        (
            lambda a: a.update(offset=torch.zeros(2, 2 * 3 * 9, 6, 5, dtype=torch.float64)),
            "divisible by the number of offset groups \\(3\\)",
        ),
    ],
)
def test_bad_arguments_name_the_tensor_and_what_was_expected(change, message):
    x, weight, offset, mask, bias, *_ = small_args(requires_grad=False)
    args = dict(input=x, offset=offset, weight=weight, bias=bias, stride=1, padding=1, mask=mask)
    change(args)
    with pytest.raises(RuntimeError, match=message):
        deform_conv2d(**args)


def test_deform_conv2d_module_matches_torchvision_module():
    torch.manual_seed(0)
    ours = DeformConv2d(4, 6, 3, padding=1, groups=2).double()
    theirs = torchvision.ops.DeformConv2d(4, 6, 3, padding=1, groups=2).double()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    offset = torch.randn(2, 18, 5, 5, dtype=torch.float64)
    mask = torch.rand(2, 9, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x, offset, mask), theirs(x, offset, mask))
    assert "groups=2" in repr(ours)


def test_dcnv2pack_starts_as_half_a_plain_convolution():
    torch.manual_seed(0)
    pack = DCNv2Pack(16, 8, deformable_groups=4).double()
    x = torch.randn(2, 16, 9, 7, dtype=torch.float64)
    feat = torch.randn(2, 16, 9, 7, dtype=torch.float64)
    # Zero-initialised offsets and mask logits: offset 0 and mask sigmoid(0) = 0.5 everywhere.
    expected = F.conv2d(x, 0.5 * pack.weight, pack.bias, padding=1)
    torch.testing.assert_close(pack(x, feat), expected)
    offset, mask = pack.offsets_and_mask(feat)
    assert offset.shape == (2, 2 * 4 * 9, 9, 7) and not offset.any()
    assert mask.shape == (2, 4 * 9, 9, 7) and bool((mask == 0.5).all())


def test_dcnv2pack_bounds_its_offsets():
    torch.manual_seed(0)
    pack = DCNv2Pack(8, 8, deformable_groups=2, max_offset=3.0)
    torch.nn.init.normal_(pack.conv_offset.bias, std=50.0)
    x = torch.randn(1, 8, 6, 6)
    offset, mask = pack.offsets_and_mask(x)
    assert 0 < offset.abs().max() <= 3.0
    unbounded = DCNv2Pack(8, 8, deformable_groups=2)
    unbounded.load_state_dict(pack.state_dict())
    raw, raw_mask = unbounded.offsets_and_mask(x)
    assert raw.abs().mean() > 10
    torch.testing.assert_close(offset, 3.0 * torch.tanh(raw / 3.0))
    torch.testing.assert_close(mask, raw_mask)  # the bound is on the offsets only


def test_dcnv2pack_forward_runs_on_offsets_and_mask():
    """One definition of the split, bound and sigmoid: what forward uses is offsets_and_mask."""
    torch.manual_seed(0)
    pack = DCNv2Pack(8, 4, deformable_groups=2, max_offset=2.0).double()
    torch.nn.init.normal_(pack.conv_offset.weight, std=1.0)
    x, feat = torch.randn(2, 8, 6, 5, dtype=torch.float64), torch.randn(2, 8, 6, 5).double()
    offset, mask = pack.offsets_and_mask(feat)
    expected = deform_conv2d(x, offset, pack.weight, pack.bias, 1, 1, 1, mask)
    torch.testing.assert_close(pack(x, feat), expected)


def test_dcnv2pack_forward_is_pure():
    """No host read of any value (a device sync on a GPU) and nothing stored on the module.

    On the meta device tensors have shapes but no values: reading one (``float``,
    ``.item()``, ``bool``) raises, as a GPU sync would be needed there.
    """
    torch.manual_seed(0)
    pack = DCNv2Pack(8, 8, deformable_groups=2, max_offset=3.0)
    torch.nn.init.normal_(pack.conv_offset.weight, std=1.0)
    before = dict(vars(pack))
    x = torch.randn(1, 8, 6, 6)
    pack(x, x).sum().backward()
    assert vars(pack) == before
    meta = pack.to("meta")
    assert meta(x.to("meta"), x.to("meta")).shape == (1, 8, 6, 6)


def test_dcnv2pack_gradients_reach_the_offset_branch():
    torch.manual_seed(0)
    pack = DCNv2Pack(8, 8, deformable_groups=2)
    x = torch.randn(1, 8, 6, 6)
    pack(x, x).square().sum().backward()
    assert pack.conv_offset.weight.grad.abs().sum() > 0
    assert pack.weight.grad.abs().sum() > 0


def test_build_info_and_module_main():
    info = vsr.ops.build_info()
    assert info["torch"].split(".")[:2] == torch.__version__.split(".")[:2]
    assert info["cuda"] in {"0", "1"}
    result = subprocess.run(
        [sys.executable, "-m", "vsr.ops"], capture_output=True, text=True, check=True
    )
    assert "CPU kernels" in result.stdout and "CUDA kernels" in result.stdout
    assert "GPU visible" in result.stdout


def test_missing_extension_is_an_import_error_that_says_how_to_build():
    # sys.modules[name] = None makes Python refuse the import, as a missing library would.
    code = "import sys; sys.modules['vsr._C'] = None; import vsr.ops"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "ImportError: vsr's compiled extension vsr._C could not be loaded" in result.stderr
    assert "make install" in result.stderr


def test_flop_counter_counts_the_op_like_conv2d_plus_sampling():
    from torch.utils.flop_counter import FlopCounterMode

    x, w = torch.rand(2, 32, 10, 12), torch.rand(16, 32, 3, 3)
    offset, mask = torch.zeros(2, 2 * 4 * 9, 10, 12), torch.rand(2, 4 * 9, 10, 12)
    with FlopCounterMode(display=False) as dcn:
        deform_conv2d(x, offset, w, padding=1, mask=mask)
    with FlopCounterMode(display=False) as conv:
        F.conv2d(x, w, padding=1)
    samples = 2 * 10 * 12 * 32 * 9  # positions x channels x taps
    assert dcn.get_total_flops() == conv.get_total_flops() + samples * 9  # 8 + mask multiply
