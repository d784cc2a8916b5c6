"""vsr.ops.deform_conv2d against torchvision's operator and a float64 loop reference.

Every case runs on each ``device`` (tests/ops/conftest.py: the CPU, and CUDA where there is
a GPU and the extension has CUDA kernels) against references computed on the CPU, so the
CUDA kernels are checked against the CPU ones too. A few tests are for one device only: the
CPU kernel's bfloat16 sums and thread-count invariance, the CUDA kernels' float16, atomic
backward and chunked batches.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision

from vsr.ops import deform_conv2d

# (batch, weight groups, offset groups, kernel, stride, padding, dilation): every axis of the
# issue's grid appears, each combined with the others somewhere.
CONFIGS = [
    (1, 1, 1, (3, 3), (1, 1), (1, 1), (1, 1)),
    (2, 2, 3, (3, 3), (2, 1), (1, 0), (2, 1)),
    (3, 1, 8, (1, 1), (1, 1), (0, 0), (1, 1)),
    (2, 2, 1, (3, 2), (1, 1), (1, 0), (1, 1)),
    (1, 1, 3, (3, 2), (2, 1), (0, 0), (2, 1)),
    (33, 1, 1, (3, 3), (1, 1), (1, 1), (1, 1)),
    (0, 1, 1, (3, 3), (1, 1), (1, 1), (1, 1)),
    (37, 2, 3, (3, 3), (1, 1), (1, 1), (1, 1)),
]

#: The CUDA kernels add gradient terms with atomics (in any order) and fuse multiply-adds,
#: so they match the CPU references to looser bounds than the CPU kernel does.
CUDA_TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-3}


def tolerance(tol: float, device: str, dtype: torch.dtype) -> float:
    return tol if device == "cpu" else max(tol, CUDA_TOLERANCE[dtype])


def make_case(
    batch,
    groups,
    offset_groups,
    kernel,
    stride,
    padding,
    dilation,
    *,
    dtype,
    use_mask=True,
    use_bias=True,
    offset_scale=2.0,
    seed=0,
    channels=None,
):
    gen = torch.Generator().manual_seed(seed)
    in_channels = channels or 24  # divisible by 1, 2, 3, 8 and by 2 * 3
    out_channels = 6
    height, width = 7, 9
    kh, kw = kernel
    out_h = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x = torch.randn(batch, in_channels, height, width, generator=gen, dtype=dtype)
    weight = torch.randn(out_channels, in_channels // groups, kh, kw, generator=gen, dtype=dtype)
    offset = (
        torch.randn(batch, 2 * offset_groups * kh * kw, out_h, out_w, generator=gen, dtype=dtype)
        * offset_scale
    )
    mask = torch.rand(batch, offset_groups * kh * kw, out_h, out_w, generator=gen, dtype=dtype)
    bias = torch.randn(out_channels, generator=gen, dtype=dtype)
    return dict(
        input=x,
        offset=offset,
        weight=weight,
        bias=bias if use_bias else None,
        stride=stride,
        padding=padding,
        dilation=dilation,
        mask=mask if use_mask else None,
    )


def run_with_grads(op, case, device="cpu"):
    """Output and gradients of ``op`` on ``device`` (returned on the CPU)."""
    leaves = {
        k: v.to(device, copy=True).requires_grad_() for k, v in case.items() if torch.is_tensor(v)
    }
    args = {**case, **leaves}
    out = op(
        args["input"],
        args["offset"],
        args["weight"],
        args["bias"],
        args["stride"],
        args["padding"],
        args["dilation"],
        args["mask"],
    )
    # A non-uniform upstream gradient, so every output element matters differently.
    upstream = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=device)
    out.backward(upstream.reshape(out.shape))
    grads = {k: v.grad.cpu() for k, v in leaves.items()}
    return out.detach().cpu(), grads


def assert_matches_torchvision(case, tol, device="cpu"):
    """Ours on ``device`` against torchvision on the CPU: outputs and every gradient."""
    ours, our_grads = run_with_grads(deform_conv2d, case, device)
    ref, ref_grads = run_with_grads(torchvision.ops.deform_conv2d, case)
    tol = tolerance(tol, device, ref.dtype)
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol)
    assert our_grads.keys() == ref_grads.keys()
    for name in ref_grads:
        torch.testing.assert_close(
            our_grads[name],
            ref_grads[name],
            rtol=tol,
            atol=tol,
            msg=lambda m, name=name: f"grad of {name}: {m}",
        )


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("use_mask", [True, False], ids=["mask", "nomask"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
def test_matches_torchvision_float64(config, use_mask, use_bias, device):
    case = make_case(*config, dtype=torch.float64, use_mask=use_mask, use_bias=use_bias)
    assert_matches_torchvision(case, tol=1e-10, device=device)


@pytest.mark.parametrize("config", CONFIGS[:5], ids=lambda c: "-".join(map(str, c)))
def test_matches_torchvision_float32(config, device):
    case = make_case(*config, dtype=torch.float32)
    assert_matches_torchvision(case, tol=1e-5, device=device)


@pytest.mark.parametrize(
    "channels, offset_groups",
    # Channels per offset group 2 (run-time loop), then 4, 8 (EDVR-M), 16 and 32: the CPU
    # kernel's unrolled channel loops.
    [(16, 8), (16, 4), (64, 8), (32, 2), (64, 2)],
)
def test_large_blocks_and_many_positions_float32(channels: int, offset_groups: int, device):
    # More output positions than one CPU block (256), so block boundaries are exercised.
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, channels, 50, 60, generator=gen)
    weight = torch.randn(8, channels, 3, 3, generator=gen) * 0.1
    offset = torch.randn(2, 2 * offset_groups * 9, 50, 60, generator=gen) * 3
    mask = torch.rand(2, offset_groups * 9, 50, 60, generator=gen)
    case = dict(
        input=x,
        offset=offset,
        weight=weight,
        bias=None,
        stride=(1, 1),
        padding=(1, 1),
        dilation=(1, 1),
        mask=mask,
    )
    assert_matches_torchvision(case, tol=2e-4, device=device)


def _bf16_case(channels: int, offset_groups: int, seed: int = 4) -> dict:
    """A case whose tensors are bfloat16 values (exactly representable), held in float32."""
    gen = torch.Generator().manual_seed(seed)
    case = dict(
        input=torch.randn(2, channels, 21, 26, generator=gen),
        offset=torch.randn(2, 2 * offset_groups * 9, 21, 26, generator=gen) * 3,
        weight=torch.randn(8, channels, 3, 3, generator=gen) * 0.1,
        bias=torch.randn(8, generator=gen),
        stride=(1, 1),
        padding=(1, 1),
        dilation=(1, 1),
        mask=torch.rand(2, offset_groups * 9, 21, 26, generator=gen),
    )
    return {k: v.bfloat16().float() if torch.is_tensor(v) else v for k, v in case.items()}


def _as(case: dict, dtype) -> dict:
    return {k: v.to(dtype) if torch.is_tensor(v) else v for k, v in case.items()}


@pytest.mark.parametrize("channels, offset_groups", [(16, 4), (24, 8), (64, 2), (6, 3)])
def test_bfloat16_matches_float32_kernel_and_torchvision(channels: int, offset_groups: int):
    """CPU: bf16 in and out, float32 sums: the same inputs (bf16 values) through the float32
    kernel and torchvision give the same output and gradients to bf16 rounding."""
    case = _bf16_case(channels, offset_groups)
    ours, our_grads = run_with_grads(deform_conv2d, _as(case, torch.bfloat16))
    for op in (deform_conv2d, torchvision.ops.deform_conv2d):
        ref, ref_grads = run_with_grads(op, case)
        scale = ref.abs().max()
        assert ours.dtype == torch.bfloat16
        assert (ours.float() - ref).abs().max() <= 1e-2 * scale
        for name, grad in ref_grads.items():
            assert our_grads[name].dtype == torch.bfloat16, name
            # Relative to the gradient's size: bf16 keeps ~3 significant digits; the offset
            # gradient also sees the bf16 rounding of the sampled values and column grads.
            error = (our_grads[name].float() - grad).abs().max() / grad.abs().max()
            assert error <= 2e-2, (name, error.item())


def test_bfloat16_sums_in_float32():
    """CPU: offsets send all 4096 positions of a 1x1 kernel to pixel (0, 0), so its input gradient
    is a sum of 4096 ones: summed in bf16 it would stall at 256 (256 + 1 rounds back to
    256), summed in float32 (then rounded once) it is exact."""
    x = torch.ones(1, 1, 64, 64, dtype=torch.bfloat16, requires_grad=True)
    weight = torch.ones(1, 1, 1, 1, dtype=torch.bfloat16, requires_grad=True)
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    offset = -torch.stack([ys, xs])[None].bfloat16()  # integers: exact in bf16
    deform_conv2d(x, offset, weight).sum().backward()
    assert weight.grad.dtype == x.grad.dtype == torch.bfloat16
    assert x.grad[0, 0, 0, 0].item() == 4096.0
    assert x.grad.sum().item() == 4096.0  # every other pixel receives nothing
    assert weight.grad.item() == 4096.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_inference_mode_over_many_blocks_and_threads(dtype, device):
    """The CPU forward multiplies each block's columns on the thread that filled them; those
    threads must run under the caller's inference mode (else writing the output fails) and
    give what a plain forward gives, for several samples of many blocks."""
    case = _as(_bf16_case(16, 4), dtype)
    case["input"] = torch.randn(3, 16, 40, 50, dtype=dtype)
    case["offset"] = torch.randn(3, 2 * 4 * 9, 40, 50, dtype=dtype) * 3
    case["mask"] = torch.rand(3, 4 * 9, 40, 50, dtype=dtype)
    case = {k: v.to(device) if torch.is_tensor(v) else v for k, v in case.items()}
    expected = deform_conv2d(**case)
    with torch.inference_mode():
        got = deform_conv2d(**case)
    assert torch.equal(got, expected)
    per_sample = [
        deform_conv2d(**{k: v[n : n + 1] if k in ("input", "offset", "mask") else v
                         for k, v in case.items()})
        for n in range(3)
    ]
    torch.testing.assert_close(got, torch.cat(per_sample), rtol=0, atol=0)


def test_bfloat16_nan_reaches_the_same_outputs_as_float32():
    """A NaN input pixel poisons exactly the outputs that sample it, in bf16 as in float32
    (the bf16 kernel converts with its own bit arithmetic, which must keep NaN a NaN)."""
    case = _bf16_case(16, 4)
    case["input"][0, 3, 10, 12] = float("nan")
    ours = deform_conv2d(**_as(case, torch.bfloat16))
    ref = deform_conv2d(**case)
    assert ref.isnan().any() and not ref.isnan().all()
    assert torch.equal(ours.isnan(), ref.isnan())


def test_non_contiguous_inputs(device):
    case = make_case(2, 1, 3, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float64)
    contiguous = run_with_grads(deform_conv2d, case, device)
    # Same values, other memory layouts: channels-last input, transposed-then-back offset.
    case_nc = dict(case)
    case_nc["input"] = case["input"].to(memory_format=torch.channels_last)
    case_nc["offset"] = case["offset"].transpose(2, 3).contiguous().transpose(2, 3)
    case_nc["mask"] = case["mask"].transpose(2, 3).contiguous().transpose(2, 3)
    case_nc["weight"] = case["weight"].permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert not case_nc["offset"].is_contiguous()
    # (.to(device) keeps these layouts: it preserves strides of dense tensors.)
    out, grads = run_with_grads(deform_conv2d, case_nc, device)
    torch.testing.assert_close(out, contiguous[0], rtol=1e-12, atol=1e-12)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, contiguous[1][name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_offset_and_mask_as_slices_of_one_tensor(layout, device):
    """DCNv2Pack's case: both are channel slices of one convolution's output (read in place)."""
    case = make_case(3, 1, 2, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float64)
    offset_channels = case["offset"].shape[1]
    raw = torch.cat([case["offset"], case["mask"]], 1).to(device)
    if layout == "channels_last":
        raw = raw.contiguous(memory_format=torch.channels_last)
    raw.requires_grad_()
    offset, mask = raw.split([offset_channels, raw.shape[1] - offset_channels], 1)
    assert not offset.is_contiguous() and not mask.is_contiguous()
    on_device = {k: v.to(device) if torch.is_tensor(v) else v for k, v in case.items()}
    args = {**on_device, "offset": offset, "mask": mask}
    out = deform_conv2d(*(args[k] for k in ("input", "offset", "weight", "bias", "stride",
                                            "padding", "dilation", "mask")))
    upstream = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=device)
    out.backward(upstream.reshape(out.shape))
    ref, ref_grads = run_with_grads(torchvision.ops.deform_conv2d, case)
    tol = tolerance(1e-10, device, torch.float64)
    torch.testing.assert_close(out.detach().cpu(), ref, rtol=tol, atol=tol)
    torch.testing.assert_close(
        raw.grad.cpu(), torch.cat([ref_grads["offset"], ref_grads["mask"]], 1), rtol=tol, atol=tol
    )


@pytest.mark.parametrize(
    "where",
    ["exactly_minus_one", "exactly_height_and_width", "far_away", "just_inside", "integers"],
)
def test_offsets_at_and_beyond_the_border(where, device):
    """Sampling points on the border lines and outside follow torchvision's rules."""
    case = make_case(2, 1, 1, (3, 3), (1, 1), (0, 0), (1, 1), dtype=torch.float64)
    offset = case["offset"]
    height, width = case["input"].shape[2:]
    out_h, out_w = offset.shape[2:]
    ys = torch.arange(out_h, dtype=torch.float64).view(1, 1, -1, 1)
    xs = torch.arange(out_w, dtype=torch.float64).view(1, 1, 1, -1)
    ky = torch.tensor([k // 3 for k in range(9)], dtype=torch.float64).view(1, 9, 1, 1)
    kx = torch.tensor([k % 3 for k in range(9)], dtype=torch.float64).view(1, 9, 1, 1)
    base_y, base_x = ys + ky, xs + kx  # where each tap samples without offset
    target = {
        "exactly_minus_one": (torch.full_like(base_y, -1.0), base_x + 0.3),
        "exactly_height_and_width": (
            torch.full_like(base_y, float(height)),
            torch.full_like(base_x, float(width)),
        ),
        "far_away": (base_y + 1e4, base_x - 1e4),
        "just_inside": (torch.full_like(base_y, -1 + 1e-6), torch.full_like(base_x, width - 1e-6)),
        "integers": (base_y.round() + 1.0, base_x.round() - 1.0),
    }[where]
    offset = offset.clone()
    offset[:, 0::2] = (target[0] - base_y).expand(2, 9, out_h, out_w)
    offset[:, 1::2] = (target[1] - base_x).expand(2, 9, out_h, out_w)
    case["offset"] = offset
    assert_matches_torchvision(case, tol=1e-10, device=device)


def loop_reference(x, offset, weight, bias, stride, padding, dilation, mask):
    """Deformable convolution written directly from its definition, in float64."""
    x, offset, weight = x.double(), offset.double(), weight.double()
    n_batch, c_in, height, width = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    groups = c_in // c_per_group
    offset_groups = offset.shape[1] // (2 * kh * kw)
    out_h, out_w = offset.shape[2:]

    def bilinear(plane, y, x_):
        if not (-1 < y < height and -1 < x_ < width):
            return 0.0
        y0, x0 = math.floor(y), math.floor(x_)
        total = 0.0
        for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
            if 0 <= yy < height and 0 <= xx < width:
                total += (1 - abs(y - yy)) * (1 - abs(x_ - xx)) * float(plane[yy, xx])
        return total

    out = torch.zeros(n_batch, c_out, out_h, out_w, dtype=torch.float64)
    for n in range(n_batch):
        for o in range(c_out):
            g = o // (c_out // groups)
            for oy in range(out_h):
                for ox in range(out_w):
                    acc = 0.0 if bias is None else float(bias[o])
                    for ci in range(c_per_group):
                        c = g * c_per_group + ci
                        og = c // (c_in // offset_groups)
                        for i in range(kh):
                            for j in range(kw):
                                k = i * kw + j
                                dy = float(offset[n, 2 * (og * kh * kw + k), oy, ox])
                                dx = float(offset[n, 2 * (og * kh * kw + k) + 1, oy, ox])
                                y = oy * stride[0] - padding[0] + i * dilation[0] + dy
                                x_ = ox * stride[1] - padding[1] + j * dilation[1] + dx
                                m = (
                                    1.0
                                    if mask is None
                                    else float(mask[n, og * kh * kw + k, oy, ox])
                                )
                                acc += float(weight[o, ci, i, j]) * m * bilinear(x[n, c], y, x_)
                    out[n, o, oy, ox] = acc
    return out


@pytest.mark.parametrize("use_mask", [True, False])
def test_matches_float64_loop_reference(use_mask, device):
    case = make_case(
        2, 2, 3, (3, 2), (2, 1), (1, 0), (2, 1), dtype=torch.float64, use_mask=use_mask, channels=6
    )
    ours = run_with_grads(deform_conv2d, case, device)[0]
    ref = loop_reference(
        case["input"],
        case["offset"],
        case["weight"],
        case["bias"],
        case["stride"],
        case["padding"],
        case["dilation"],
        case["mask"],
    )
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("use_mask", [True, False])
def test_gradcheck_float64(use_mask, device):
    case = make_case(
        1, 2, 3, (3, 2), (2, 1), (1, 0), (2, 1), dtype=torch.float64, use_mask=use_mask, channels=6
    )
    # Keep sampling points away from integer coordinates, where bilinear interpolation is not
    # differentiable and finite differences disagree with any one-sided derivative.
    case["offset"] = (
        torch.round(case["offset"]) + 0.5 + 0.3 * torch.rand_like(case["offset"]) - 0.15
    )
    tensors = {k: v.to(device).requires_grad_() for k, v in case.items() if torch.is_tensor(v)}

    def fn(input, offset, weight, bias, *rest):
        mask = rest[0] if rest else None
        return deform_conv2d(
            input, offset, weight, bias, case["stride"], case["padding"], case["dilation"], mask
        )

    inputs = [tensors["input"], tensors["offset"], tensors["weight"], tensors["bias"]]
    if use_mask:
        inputs.append(tensors["mask"])
    # CUDA's atomic sums may differ in the last bits between two backward passes.
    nondet_tol = 0.0 if device == "cpu" else 1e-12
    assert torch.autograd.gradcheck(
        fn, inputs, eps=1e-6, atol=1e-6, nondet_tol=nondet_tol, fast_mode=True
    )


def test_zero_offsets_and_unit_mask_equal_conv2d(device):
    case = make_case(2, 2, 3, (3, 3), (2, 1), (1, 0), (2, 1), dtype=torch.float64)
    case["offset"] = torch.zeros_like(case["offset"])
    case["mask"] = torch.ones_like(case["mask"])
    ours = run_with_grads(deform_conv2d, case, device)[0]
    ref = F.conv2d(
        case["input"],
        case["weight"],
        case["bias"],
        case["stride"],
        case["padding"],
        case["dilation"],
        groups=2,
    )
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_batch_zero_gives_empty_output_and_grads(device):
    case = make_case(0, 1, 1, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float32)
    out, grads = run_with_grads(deform_conv2d, case, device)
    assert out.shape == (0, 6, 7, 9)
    assert torch.count_nonzero(grads["weight"]) == 0
    assert grads["input"].shape == case["input"].shape


def test_prime_batch_sizes_match_per_sample_results(device):
    # A batch gives each sample what it gets alone (no cross-sample mixing): exactly on the
    # CPU; on CUDA the matrix products of other sizes may sum in another order.
    case = make_case(5, 1, 2, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float64)
    case = {k: v.to(device) if torch.is_tensor(v) else v for k, v in case.items()}
    tol = 0.0 if device == "cpu" else 1e-12
    together = deform_conv2d(**case)
    for n in range(5):
        alone = deform_conv2d(
            case["input"][n : n + 1],
            case["offset"][n : n + 1],
            case["weight"],
            case["bias"],
            case["stride"],
            case["padding"],
            case["dilation"],
            case["mask"][n : n + 1],
        )
        torch.testing.assert_close(together[n : n + 1], alone, rtol=tol, atol=tol)


def test_backward_determinism(device):
    """The CPU backward adds each gradient element's terms in a fixed order: two runs are
    bitwise equal, and deterministic mode allows it. The CUDA backward adds them with
    atomics, so deterministic mode refuses it."""
    case = make_case(2, 1, 8, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float32)
    torch.use_deterministic_algorithms(True)
    try:
        if device == "cuda":
            with pytest.raises(RuntimeError, match="deform_conv2d backward"):
                run_with_grads(deform_conv2d, case, device)
        else:
            first = run_with_grads(deform_conv2d, case, device)[1]
            second = run_with_grads(deform_conv2d, case, device)[1]
            for name in first:
                assert torch.equal(first[name], second[name]), name
    finally:
        torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("offset_groups", [1, 2, 8])
def test_backward_is_identical_for_any_thread_count(offset_groups: int):
    # CPU: the backward splits the input gradient by channel ranges and the offset and mask
    # gradients by position ranges, so each element's terms are added in the same order
    # whatever the thread count: those gradients are bitwise equal. Output and weight
    # gradient come from BLAS, whose summation order may depend on its thread count.
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 16, 30, 34, generator=gen)
    weight = torch.randn(8, 16, 3, 3, generator=gen)
    offset = torch.randn(2, 2 * offset_groups * 9, 30, 34, generator=gen) * 2
    mask = torch.rand(2, offset_groups * 9, 30, 34, generator=gen)
    grad_out = torch.randn(2, 8, 30, 34, generator=gen)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            tensors = [t.clone().requires_grad_() for t in (x, offset, weight, mask)]
            out = deform_conv2d(tensors[0], tensors[1], tensors[2], padding=1, mask=tensors[3])
            out.backward(grad_out)
            results.append([out.detach()] + [t.grad for t in tensors])
    finally:
        torch.set_num_threads(threads)
    for out, grad_x, grad_offset, grad_weight, grad_mask in results[1:]:
        assert torch.equal(grad_x, results[0][1])
        assert torch.equal(grad_offset, results[0][2])
        assert torch.equal(grad_mask, results[0][4])
        torch.testing.assert_close(out, results[0][0], rtol=1e-6, atol=1e-5)
        torch.testing.assert_close(grad_weight, results[0][3], rtol=1e-6, atol=1e-4)


def test_autocast_runs_in_the_autocast_dtype(device):
    case = make_case(2, 2, 3, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float32)
    args = {k: v.to(device) if torch.is_tensor(v) else v for k, v in case.items()}
    with torch.autocast(device, dtype=torch.bfloat16):
        out = deform_conv2d(**args)
    assert out.dtype == torch.bfloat16
    ref = deform_conv2d(**args)
    assert (out.float() - ref).abs().max() <= 5e-2 * ref.abs().max()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_close_to_float32_on_cuda(dtype, cuda_device):
    case = make_case(3, 2, 3, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float32)
    ref_out, ref_grads = run_with_grads(deform_conv2d, case, cuda_device)
    half = {k: v.to(dtype) if torch.is_tensor(v) else v for k, v in case.items()}
    out, grads = run_with_grads(deform_conv2d, half, cuda_device)
    # Inputs rounded to 8 (bf16) or 11 (fp16) bits; accumulation stays in float32.
    tol = 5e-2 if dtype == torch.bfloat16 else 1e-2
    assert (out.float() - ref_out).abs().max() <= tol * ref_out.abs().max()
    for name in ("input", "weight", "mask"):
        g_scale = ref_grads[name].abs().max()
        assert (grads[name].float() - ref_grads[name]).abs().max() <= 2 * tol * g_scale, name


def test_large_batch_chunks_match_per_sample_on_cuda(cuda_device):
    # Enough samples that the CUDA column buffer is split into several chunks.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(67, 64, 64, 64, generator=gen).to(cuda_device)
    weight = torch.randn(64, 64, 3, 3, generator=gen).to(cuda_device) * 0.05
    offset = torch.randn(67, 144, 64, 64, generator=gen).to(cuda_device)
    mask = torch.rand(67, 72, 64, 64, generator=gen).to(cuda_device)
    together = deform_conv2d(x, offset, weight, padding=1, mask=mask)
    for n in (0, 31, 66):
        alone = deform_conv2d(
            x[n : n + 1], offset[n : n + 1], weight, padding=1, mask=mask[n : n + 1]
        )
        torch.testing.assert_close(together[n : n + 1], alone, rtol=1e-5, atol=1e-5)


def test_opcheck_on_cuda(cuda_device):
    """The CPU kernel's opcheck is test_registration.py's."""
    case = make_case(2, 2, 3, (3, 3), (1, 1), (1, 1), (1, 1), dtype=torch.float64)
    args = [case[k].to(cuda_device) for k in ("input", "weight", "offset", "mask", "bias")]
    torch.library.opcheck(torch.ops.vsr.deform_conv2d.default, (*args, 1, 1, 1, 1, 1, 1))
