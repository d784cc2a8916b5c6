"""CUDA kernels against the CPU kernels (themselves checked against torchvision).

Skipped without a GPU; `scripts/check_cuda.sh` runs them on a machine that has one.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

from vsr.ops import deform_conv2d

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def make_case(
    batch,
    *,
    dtype=torch.float64,
    groups=2,
    offset_groups=3,
    size=(11, 13),
    kernel=(3, 3),
    stride=(1, 1),
    padding=(1, 1),
    dilation=(1, 1),
    seed=0,
):
    gen = torch.Generator().manual_seed(seed)
    c_in, c_out = 12, 8
    kh, kw = kernel
    h, w = size
    out_h = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return dict(
        input=torch.randn(batch, c_in, h, w, generator=gen, dtype=dtype),
        offset=torch.randn(
            batch, 2 * offset_groups * kh * kw, out_h, out_w, generator=gen, dtype=dtype
        )
        * 3,
        weight=torch.randn(c_out, c_in // groups, kh, kw, generator=gen, dtype=dtype),
        bias=torch.randn(c_out, generator=gen, dtype=dtype),
        mask=torch.rand(batch, offset_groups * kh * kw, out_h, out_w, generator=gen, dtype=dtype),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )


def forward_backward(case, device, dtype=None, op=deform_conv2d):
    leaves = {}
    args = dict(case)
    for name, value in case.items():
        if torch.is_tensor(value):
            leaves[name] = value.to(device=device, dtype=dtype or value.dtype).requires_grad_()
            args[name] = leaves[name]
    out = op(**args)
    upstream = torch.linspace(-1, 1, out.numel(), device=device, dtype=out.dtype)
    out.backward(upstream.reshape(out.shape))
    return out.detach().cpu().double(), {k: v.grad.cpu().double() for k, v in leaves.items()}


@pytest.mark.parametrize("batch", [1, 2, 33, 37])
@pytest.mark.parametrize(
    "geometry",
    [
        dict(),
        dict(kernel=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1)),
        dict(kernel=(1, 1), padding=(0, 0)),
    ],
    ids=["3x3", "3x2-strided-dilated", "1x1"],
)
def test_cuda_equals_cpu_float64(batch, geometry):
    case = make_case(batch, **geometry)
    cpu_out, cpu_grads = forward_backward(case, "cpu")
    gpu_out, gpu_grads = forward_backward(case, "cuda")
    torch.testing.assert_close(gpu_out, cpu_out, rtol=1e-10, atol=1e-10)
    for name in cpu_grads:
        torch.testing.assert_close(
            gpu_grads[name],
            cpu_grads[name],
            rtol=1e-9,
            atol=1e-9,
            msg=lambda m, name=name: f"grad of {name}: {m}",
        )


def test_cuda_equals_cpu_float32_and_torchvision():
    case = make_case(4, dtype=torch.float32)
    cpu_out, cpu_grads = forward_backward(case, "cpu")
    gpu_out, gpu_grads = forward_backward(case, "cuda")
    tv_out, tv_grads = forward_backward(case, "cuda", op=torchvision.ops.deform_conv2d)
    for out in (gpu_out, tv_out):
        torch.testing.assert_close(out, cpu_out, rtol=1e-4, atol=1e-4)
    for name in cpu_grads:
        torch.testing.assert_close(gpu_grads[name], cpu_grads[name], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_close_to_float32(dtype):
    case = make_case(3, dtype=torch.float32)
    ref_out, ref_grads = forward_backward(case, "cuda")
    out, grads = forward_backward(case, "cuda", dtype=dtype)
    # Inputs rounded to 8 (bf16) or 11 (fp16) bits; accumulation stays in float32.
    tol = 5e-2 if dtype == torch.bfloat16 else 1e-2
    scale = ref_out.abs().max()
    assert (out - ref_out).abs().max() <= tol * scale
    for name in ("input", "weight", "mask"):
        g_scale = ref_grads[name].abs().max()
        assert (grads[name] - ref_grads[name]).abs().max() <= 2 * tol * g_scale, name


def test_autocast_runs_in_the_autocast_dtype():
    case = make_case(2, dtype=torch.float32)
    args = {k: v.cuda() if torch.is_tensor(v) else v for k, v in case.items()}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = deform_conv2d(**args)
    assert out.dtype == torch.bfloat16
    ref = deform_conv2d(**args)
    assert (out.float() - ref).abs().max() <= 5e-2 * ref.abs().max()


def test_deterministic_mode_raises_on_the_atomic_backward():
    case = make_case(1, dtype=torch.float32)
    torch.use_deterministic_algorithms(True)
    try:
        with pytest.raises(RuntimeError, match="deform_conv2d backward"):
            forward_backward(case, "cuda")
    finally:
        torch.use_deterministic_algorithms(False)


def test_large_batch_chunks_match_per_sample():
    # Enough samples that the column buffer is split into several chunks.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(67, 64, 64, 64, generator=gen).cuda()
    weight = torch.randn(64, 64, 3, 3, generator=gen).cuda() * 0.05
    offset = torch.randn(67, 144, 64, 64, generator=gen).cuda()
    mask = torch.rand(67, 72, 64, 64, generator=gen).cuda()
    together = deform_conv2d(x, offset, weight, padding=1, mask=mask)
    for n in (0, 31, 66):
        alone = deform_conv2d(
            x[n : n + 1], offset[n : n + 1], weight, padding=1, mask=mask[n : n + 1]
        )
        torch.testing.assert_close(together[n : n + 1], alone, rtol=1e-5, atol=1e-5)


def test_opcheck_on_cuda():
    case = make_case(2)
    args = (
        case["input"].cuda(),
        case["weight"].cuda(),
        case["offset"].cuda(),
        case["mask"].cuda(),
        case["bias"].cuda(),
        1,
        1,
        1,
        1,
        1,
        1,
    )
    torch.library.opcheck(torch.ops.vsr.deform_conv2d.default, args)
