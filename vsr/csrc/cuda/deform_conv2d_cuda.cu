// CUDA kernels of vsr::deform_conv2d.
//
// Samples are processed in chunks whose column buffer stays under a fixed budget, so any batch
// size works (no divisibility requirement) and memory does not grow with the batch. Sampling
// accumulates in float32 for half and bfloat16 inputs; the GEMMs run on cuBLAS in the input
// dtype (tensor cores), which accumulates in float32 too. All indexing is 64-bit.
//
// The input gradient scatters with atomic adds and is therefore not bitwise reproducible;
// under torch.use_deterministic_algorithms(True) the backward raises (or warns, with
// warn_only=True) through ATen's standard alert. The offset and mask gradients use no atomics.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "../deform_conv2d.h"
#include "../deform_conv2d_math.h"

namespace vsr {
namespace {

constexpr int kThreads = 256;
// Column buffer budget per chunk of samples (elements): 64 Mi elements = 128-256 MB.
constexpr int64_t kColumnBudget = int64_t(64) << 20;

int64_t blocks_for(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t(1) << 20));
}

// Everything a kernel needs, passed by value.
struct KernelShape {
  int64_t chunk, in_channels, in_h, in_w, out_h, out_w, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t offset_groups, channels_per_offset_group, offset_channels, mask_channels;
  bool use_mask;
};

template <typename acc_t, typename scalar_t>
__device__ __forceinline__ BilinearTap<acc_t> tap_at(const KernelShape& s,
                                                     const scalar_t* offset_n, int64_t group,
                                                     int64_t k, int64_t p) {
  const int64_t K = s.kernel_h * s.kernel_w;
  const int64_t P = s.out_h * s.out_w;
  const scalar_t* off_y = offset_n + offset_y_channel(group, k, K) * P;
  const acc_t y = static_cast<acc_t>(grid_coordinate(p / s.out_w, s.stride_h, s.pad_h,
                                                     k / s.kernel_w, s.dilation_h)) +
                  static_cast<acc_t>(off_y[p]);
  const acc_t x = static_cast<acc_t>(grid_coordinate(p % s.out_w, s.stride_w, s.pad_w,
                                                     k % s.kernel_w, s.dilation_w)) +
                  static_cast<acc_t>(off_y[P + p]);
  return make_tap<acc_t>(y, x, s.in_h, s.in_w);
}

template <typename scalar_t>
__device__ __forceinline__ at::opmath_type<scalar_t> mask_at(const KernelShape& s,
                                                              const scalar_t* mask_n,
                                                              int64_t group, int64_t k,
                                                              int64_t p) {
  using acc_t = at::opmath_type<scalar_t>;
  if (!s.use_mask) return acc_t(1);
  const int64_t K = s.kernel_h * s.kernel_w;
  return static_cast<acc_t>(mask_n[(group * K + k) * s.out_h * s.out_w + p]);
}

// columns[(c * K + k), n * P + p] for the samples of one chunk; one thread per (n, c, p).
template <typename scalar_t>
__global__ void im2col_kernel(KernelShape s, const scalar_t* __restrict__ input,
                              const scalar_t* __restrict__ offset,
                              const scalar_t* __restrict__ mask, scalar_t* __restrict__ columns) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t K = s.kernel_h * s.kernel_w;
  const int64_t P = s.out_h * s.out_w;
  const int64_t total = s.chunk * s.in_channels * P;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const int64_t p = idx % P;
    const int64_t c = (idx / P) % s.in_channels;
    const int64_t n = idx / (P * s.in_channels);
    const int64_t group = c / s.channels_per_offset_group;
    const scalar_t* plane = input + (n * s.in_channels + c) * s.in_h * s.in_w;
    const scalar_t* offset_n = offset + n * s.offset_channels * P;
    const scalar_t* mask_n = s.use_mask ? mask + n * s.mask_channels * P : nullptr;
    for (int64_t k = 0; k < K; ++k) {
      const BilinearTap<acc_t> tap = tap_at<acc_t>(s, offset_n, group, k, p);
      const acc_t value = mask_at(s, mask_n, group, k, p) * tap_sample(tap, plane);
      columns[(c * K + k) * (s.chunk * P) + n * P + p] = static_cast<scalar_t>(value);
    }
  }
}

// Scatters the column gradient into the input gradient (float32 for half inputs).
template <typename scalar_t, typename grad_t>
__global__ void col2im_kernel(KernelShape s, const scalar_t* __restrict__ grad_columns,
                              const scalar_t* __restrict__ offset,
                              const scalar_t* __restrict__ mask, grad_t* __restrict__ grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t K = s.kernel_h * s.kernel_w;
  const int64_t P = s.out_h * s.out_w;
  const int64_t total = s.chunk * s.in_channels * K * P;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const int64_t p = idx % P;
    const int64_t n = (idx / P) % s.chunk;
    const int64_t ck = idx / (P * s.chunk);
    const int64_t c = ck / K;
    const int64_t k = ck % K;
    const int64_t group = c / s.channels_per_offset_group;
    const scalar_t* offset_n = offset + n * s.offset_channels * P;
    const scalar_t* mask_n = s.use_mask ? mask + n * s.mask_channels * P : nullptr;
    const BilinearTap<acc_t> tap = tap_at<acc_t>(s, offset_n, group, k, p);
    const acc_t g = mask_at(s, mask_n, group, k, p) * static_cast<acc_t>(grad_columns[idx]);
    grad_t* plane = grad_input + (n * s.in_channels + c) * s.in_h * s.in_w;
    for (int i = 0; i < 4; ++i) {
      if ((tap.valid >> i) & 1u) {
        gpuAtomicAdd(plane + tap.index[i], static_cast<grad_t>(tap.weight[i] * g));
      }
    }
  }
}

// Offset and mask gradients; one thread per (n, group, k, p) sums over its channels.
template <typename scalar_t>
__global__ void coordinate_grad_kernel(KernelShape s, const scalar_t* __restrict__ grad_columns,
                                       const scalar_t* __restrict__ input,
                                       const scalar_t* __restrict__ offset,
                                       const scalar_t* __restrict__ mask,
                                       scalar_t* __restrict__ grad_offset,
                                       scalar_t* __restrict__ grad_mask) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t K = s.kernel_h * s.kernel_w;
  const int64_t P = s.out_h * s.out_w;
  const int64_t total = s.chunk * s.offset_groups * K * P;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total;
       idx += int64_t(blockDim.x) * gridDim.x) {
    const int64_t p = idx % P;
    const int64_t k = (idx / P) % K;
    const int64_t group = (idx / (P * K)) % s.offset_groups;
    const int64_t n = idx / (P * K * s.offset_groups);
    const scalar_t* offset_n = offset + n * s.offset_channels * P;
    const scalar_t* mask_n = s.use_mask ? mask + n * s.mask_channels * P : nullptr;
    const BilinearTap<acc_t> tap = tap_at<acc_t>(s, offset_n, group, k, p);
    acc_t sum_y = 0, sum_x = 0, sum_m = 0;
    const int64_t c_begin = group * s.channels_per_offset_group;
    for (int64_t c = c_begin; c < c_begin + s.channels_per_offset_group; ++c) {
      const scalar_t* plane = input + (n * s.in_channels + c) * s.in_h * s.in_w;
      const acc_t g = static_cast<acc_t>(grad_columns[(c * K + k) * (s.chunk * P) + n * P + p]);
      acc_t d_y, d_x;
      const acc_t value = tap_sample_and_grad(tap, plane, &d_y, &d_x);
      sum_y += g * d_y;
      sum_x += g * d_x;
      sum_m += g * value;
    }
    const acc_t m = mask_at(s, mask_n, group, k, p);
    scalar_t* grad_off_n = grad_offset + n * s.offset_channels * P;
    grad_off_n[offset_y_channel(group, k, K) * P + p] = static_cast<scalar_t>(m * sum_y);
    grad_off_n[(offset_y_channel(group, k, K) + 1) * P + p] = static_cast<scalar_t>(m * sum_x);
    grad_mask[(n * s.offset_groups * K + group * K + k) * P + p] = static_cast<scalar_t>(sum_m);
  }
}

KernelShape kernel_shape(const DeformConvShape& s, int64_t chunk) {
  return KernelShape{chunk,        s.in_channels, s.in_h,          s.in_w,
                     s.out_h,      s.out_w,       s.kernel_h,      s.kernel_w,
                     s.stride_h,   s.stride_w,    s.pad_h,         s.pad_w,
                     s.dilation_h, s.dilation_w,  s.offset_groups, s.channels_per_offset_group(),
                     2 * s.offset_groups * s.taps(), s.offset_groups * s.taps(), s.use_mask};
}

int64_t samples_per_chunk(const DeformConvShape& s) {
  const int64_t per_sample = std::max<int64_t>(1, s.in_channels * s.taps() * s.out_positions());
  return std::max<int64_t>(1, std::min<int64_t>(s.batch, kColumnBudget / per_sample));
}

void check_cuda_inputs(const at::Tensor& input) {
  TORCH_CHECK(input.is_cuda(), "deform_conv2d: the CUDA kernel got a tensor on ",
              input.device());
}

at::Tensor deform_conv2d_forward_cuda(const at::Tensor& input_arg, const at::Tensor& weight_arg,
                                      const at::Tensor& offset_arg,
                                      const std::optional<at::Tensor>& mask_arg,
                                      const std::optional<at::Tensor>& bias_arg,
                                      int64_t stride_h, int64_t stride_w, int64_t pad_h,
                                      int64_t pad_w, int64_t dilation_h, int64_t dilation_w) {
  check_cuda_inputs(input_arg);
  const DeformConvShape s =
      check_deform_conv2d_args(input_arg, weight_arg, offset_arg, mask_arg, bias_arg, stride_h,
                               stride_w, pad_h, pad_w, dilation_h, dilation_w);
  const c10::cuda::CUDAGuard device_guard(input_arg.device());
  const at::Tensor input = input_arg.contiguous();
  const at::Tensor offset = offset_arg.contiguous();
  const at::Tensor mask = s.use_mask ? mask_arg->contiguous() : at::Tensor();
  const int64_t G = s.weight_groups;
  const int64_t K = s.taps();
  const int64_t P = s.out_positions();
  const int64_t cols_per_group = s.in_channels / G * K;
  const int64_t out_per_group = s.out_channels / G;
  const at::Tensor weight = weight_arg.contiguous().view({G, out_per_group, cols_per_group});

  at::Tensor output = at::empty({s.batch, s.out_channels, s.out_h, s.out_w}, input.options());
  if (s.batch == 0 || P == 0) {
    output.zero_();
    return bias_arg.has_value() ? output + bias_arg->view({1, -1, 1, 1}) : output;
  }
  const int64_t chunk_max = samples_per_chunk(s);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  for (int64_t n0 = 0; n0 < s.batch; n0 += chunk_max) {
    const int64_t chunk = std::min(chunk_max, s.batch - n0);
    const KernelShape ks = kernel_shape(s, chunk);
    at::Tensor columns = at::empty({s.in_channels * K, chunk * P}, input.options());
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, input.scalar_type(), "deform_conv2d_im2col", [&] {
          im2col_kernel<scalar_t><<<blocks_for(chunk * s.in_channels * P), kThreads, 0,
                                    stream>>>(
              ks, input.data_ptr<scalar_t>() + n0 * s.in_channels * s.in_plane(),
              offset.data_ptr<scalar_t>() + n0 * offset.size(1) * P,
              s.use_mask ? mask.data_ptr<scalar_t>() + n0 * mask.size(1) * P : nullptr,
              columns.data_ptr<scalar_t>());
        });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    // (G, C_out / G, chunk * P) -> (chunk, C_out, P)
    const at::Tensor result = at::bmm(weight, columns.view({G, cols_per_group, chunk * P}));
    output.narrow(0, n0, chunk)
        .view({chunk, G, out_per_group, P})
        .copy_(result.view({G, out_per_group, chunk, P}).permute({2, 0, 1, 3}));
  }
  if (bias_arg.has_value()) {
    output.add_(bias_arg->view({1, -1, 1, 1}));
  }
  return output;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
deform_conv2d_backward_cuda(const at::Tensor& grad_output_arg, const at::Tensor& input_arg,
                            const at::Tensor& weight_arg, const at::Tensor& offset_arg,
                            const std::optional<at::Tensor>& mask_arg,
                            const std::optional<at::Tensor>& bias_arg, int64_t stride_h,
                            int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                            int64_t dilation_w) {
  check_cuda_inputs(input_arg);
  const DeformConvShape s =
      check_deform_conv2d_args(input_arg, weight_arg, offset_arg, mask_arg, bias_arg, stride_h,
                               stride_w, pad_h, pad_w, dilation_h, dilation_w);
  check_grad_output(grad_output_arg, s, input_arg);
  at::globalContext().alertNotDeterministic("vsr::deform_conv2d backward (CUDA)");
  const c10::cuda::CUDAGuard device_guard(input_arg.device());
  const at::Tensor input = input_arg.contiguous();
  const at::Tensor offset = offset_arg.contiguous();
  const at::Tensor mask = s.use_mask ? mask_arg->contiguous() : at::Tensor();
  const at::Tensor grad_output = grad_output_arg.contiguous();
  const int64_t G = s.weight_groups;
  const int64_t K = s.taps();
  const int64_t P = s.out_positions();
  const int64_t cols_per_group = s.in_channels / G * K;
  const int64_t out_per_group = s.out_channels / G;
  const at::Tensor weight = weight_arg.contiguous().view({G, out_per_group, cols_per_group});

  // Reduced-precision inputs scatter their input gradient into a float32 buffer.
  const bool half_like = input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16;
  at::Tensor grad_input_acc =
      at::zeros_like(input, half_like ? input.options().dtype(at::kFloat) : input.options());
  at::Tensor grad_offset = at::zeros_like(offset);
  at::Tensor grad_mask =
      at::zeros({s.batch, s.offset_groups * K, s.out_h, s.out_w}, input.options());
  at::Tensor grad_weight = at::zeros({G, out_per_group, cols_per_group},
                                     grad_input_acc.options());
  at::Tensor grad_bias = grad_output.sum({0, 2, 3});
  if (s.batch > 0 && P > 0) {
    const int64_t chunk_max = samples_per_chunk(s);
    const auto stream = c10::cuda::getCurrentCUDAStream();
    for (int64_t n0 = 0; n0 < s.batch; n0 += chunk_max) {
      const int64_t chunk = std::min(chunk_max, s.batch - n0);
      const KernelShape ks = kernel_shape(s, chunk);
      // (G, C_out / G, chunk * P), matching the column layout.
      const at::Tensor grad_out_g = grad_output.narrow(0, n0, chunk)
                                        .view({chunk, G, out_per_group, P})
                                        .permute({1, 2, 0, 3})
                                        .reshape({G, out_per_group, chunk * P});
      at::Tensor columns = at::empty({s.in_channels * K, chunk * P}, input.options());
      AT_DISPATCH_FLOATING_TYPES_AND2(
          at::kHalf, at::kBFloat16, input.scalar_type(), "deform_conv2d_backward_cuda", [&] {
            const scalar_t* input_c =
                input.data_ptr<scalar_t>() + n0 * s.in_channels * s.in_plane();
            const scalar_t* offset_c = offset.data_ptr<scalar_t>() + n0 * offset.size(1) * P;
            const scalar_t* mask_c =
                s.use_mask ? mask.data_ptr<scalar_t>() + n0 * mask.size(1) * P : nullptr;
            im2col_kernel<scalar_t><<<blocks_for(chunk * s.in_channels * P), kThreads, 0,
                                      stream>>>(ks, input_c, offset_c, mask_c,
                                                columns.data_ptr<scalar_t>());
            C10_CUDA_KERNEL_LAUNCH_CHECK();
            grad_weight.add_(
                at::bmm(grad_out_g, columns.view({G, cols_per_group, chunk * P}).transpose(1, 2))
                    .to(grad_weight.scalar_type()));
            const at::Tensor grad_columns = at::bmm(weight.transpose(1, 2), grad_out_g);
            using grad_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
            col2im_kernel<scalar_t, grad_t>
                <<<blocks_for(chunk * s.in_channels * K * P), kThreads, 0, stream>>>(
                    ks, grad_columns.data_ptr<scalar_t>(), offset_c, mask_c,
                    grad_input_acc.data_ptr<grad_t>() + n0 * s.in_channels * s.in_plane());
            C10_CUDA_KERNEL_LAUNCH_CHECK();
            coordinate_grad_kernel<scalar_t>
                <<<blocks_for(chunk * s.offset_groups * K * P), kThreads, 0, stream>>>(
                    ks, grad_columns.data_ptr<scalar_t>(), input_c, offset_c, mask_c,
                    grad_offset.data_ptr<scalar_t>() + n0 * offset.size(1) * P,
                    grad_mask.data_ptr<scalar_t>() + n0 * grad_mask.size(1) * P);
            C10_CUDA_KERNEL_LAUNCH_CHECK();
          });
    }
  }
  return {grad_input_acc.to(input.scalar_type()),
          grad_weight.to(input.scalar_type()).view_as(weight_arg), grad_offset, grad_mask,
          grad_bias};
}

}  // namespace
}  // namespace vsr

TORCH_LIBRARY_IMPL(vsr, CUDA, m) {
  m.impl("deform_conv2d", &vsr::deform_conv2d_forward_cuda);
  m.impl("_deform_conv2d_backward", &vsr::deform_conv2d_backward_cuda);
}
