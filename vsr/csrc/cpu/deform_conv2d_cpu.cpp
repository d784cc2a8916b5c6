// CPU kernels of vsr::deform_conv2d.
//
// Work goes one sample and one block of output positions at a time, so the column buffer
// stays a few MB whatever the batch or image size. For each block:
//   1. taps: the bilinear neighbours of every (offset group, kernel tap, position), computed
//      once and shared by all channels of the offset group (the expensive part of sampling);
//   2. columns: sampled input values times the mask, (C_in * kh * kw, block);
//   3. a GEMM per weight group, which ATen's BLAS runs on all cores.
// The backward pass rebuilds the same taps and columns and scatters gradients without
// atomics: the input gradient is split by channel, the offset and mask gradients by
// position, so each thread owns what it writes and the result is deterministic.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/OpMathType.h>
#include <torch/library.h>

#include <vector>

#include "../deform_conv2d.h"
#include "../deform_conv2d_math.h"

namespace vsr {
namespace {

// Output positions per block: big enough for an efficient GEMM, small enough that the taps
// and columns of a block stay in the last-level cache on EDVR shapes.
constexpr int64_t kPositionsPerBlock = 2048;

template <typename scalar_t>
using acc_type = at::opmath_type<scalar_t>;

// Fills taps[(g * K + k) * block + j] and masks[...] for the positions [p0, p0 + block).
template <typename scalar_t>
void compute_taps(const DeformConvShape& s, const scalar_t* offset_n, const scalar_t* mask_n,
                  int64_t p0, int64_t block, BilinearTap<acc_type<scalar_t>>* taps,
                  acc_type<scalar_t>* masks) {
  using acc_t = acc_type<scalar_t>;
  const int64_t K = s.taps();
  const int64_t P = s.out_positions();
  at::parallel_for(0, s.offset_groups * K, 1, [&](int64_t begin, int64_t end) {
    for (int64_t gk = begin; gk < end; ++gk) {
      const int64_t group = gk / K;
      const int64_t k = gk % K;
      const int64_t ky = k / s.kernel_w;
      const int64_t kx = k % s.kernel_w;
      const scalar_t* off_y = offset_n + offset_y_channel(group, k, K) * P;
      const scalar_t* off_x = off_y + P;
      const scalar_t* m = mask_n != nullptr ? mask_n + gk * P : nullptr;
      for (int64_t j = 0; j < block; ++j) {
        const int64_t p = p0 + j;
        const int64_t oy = p / s.out_w;
        const int64_t ox = p % s.out_w;
        const acc_t y = static_cast<acc_t>(grid_coordinate(oy, s.stride_h, s.pad_h, ky,
                                                           s.dilation_h)) +
                        static_cast<acc_t>(off_y[p]);
        const acc_t x = static_cast<acc_t>(grid_coordinate(ox, s.stride_w, s.pad_w, kx,
                                                           s.dilation_w)) +
                        static_cast<acc_t>(off_x[p]);
        taps[gk * block + j] = make_tap<acc_t>(y, x, s.in_h, s.in_w);
        masks[gk * block + j] = m != nullptr ? static_cast<acc_t>(m[p]) : acc_t(1);
      }
    }
  });
}

// columns[(c * K + k), j] = mask * bilinear(input[c]) at tap (group(c), k, j). Each tap is
// read once and applied to all channels of its offset group.
template <typename scalar_t>
void fill_columns(const DeformConvShape& s, const scalar_t* input_n,
                  const BilinearTap<acc_type<scalar_t>>* taps,
                  const acc_type<scalar_t>* masks, int64_t block, scalar_t* columns) {
  const int64_t K = s.taps();
  const int64_t channels_per_group = s.channels_per_offset_group();
  at::parallel_for(0, s.offset_groups * K, 1, [&](int64_t begin, int64_t end) {
    for (int64_t gk = begin; gk < end; ++gk) {
      const int64_t group = gk / K;
      const int64_t k = gk % K;
      const int64_t c_begin = group * channels_per_group;
      for (int64_t j = 0; j < block; ++j) {
        // A local copy: stores to columns cannot alias it, so it stays in registers.
        const BilinearTap<acc_type<scalar_t>> tap = taps[gk * block + j];
        const auto m = masks[gk * block + j];
        for (int64_t c = c_begin; c < c_begin + channels_per_group; ++c) {
          columns[(c * K + k) * block + j] =
              static_cast<scalar_t>(m * tap_sample(tap, input_n + c * s.in_plane()));
        }
      }
    }
  });
}

at::Tensor deform_conv2d_forward_cpu(const at::Tensor& input_arg, const at::Tensor& weight_arg,
                                     const at::Tensor& offset_arg,
                                     const std::optional<at::Tensor>& mask_arg,
                                     const std::optional<at::Tensor>& bias_arg, int64_t stride_h,
                                     int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                     int64_t dilation_h, int64_t dilation_w) {
  const DeformConvShape s =
      check_deform_conv2d_args(input_arg, weight_arg, offset_arg, mask_arg, bias_arg, stride_h,
                               stride_w, pad_h, pad_w, dilation_h, dilation_w);
  TORCH_CHECK(input_arg.scalar_type() == at::kFloat || input_arg.scalar_type() == at::kDouble,
              "deform_conv2d: the CPU kernel supports float32 and float64: got ",
              input_arg.scalar_type(), " (under torch.autocast the CPU kernel runs in float32)");
  const at::Tensor input = input_arg.contiguous();
  const at::Tensor offset = offset_arg.contiguous();
  const at::Tensor mask = s.use_mask ? mask_arg->contiguous() : at::Tensor();
  const int64_t G = s.weight_groups;
  const int64_t K = s.taps();
  const int64_t P = s.out_positions();
  const int64_t cols_per_group = s.in_channels / G * K;
  const int64_t out_per_group = s.out_channels / G;
  // (G, C_out / G, C_in / G * K): one GEMM operand per weight group.
  const at::Tensor weight = weight_arg.contiguous().view({G, out_per_group, cols_per_group});

  at::Tensor output = at::zeros({s.batch, s.out_channels, s.out_h, s.out_w}, input.options());
  if (s.batch == 0 || P == 0) {
    return bias_arg.has_value() ? output + bias_arg->view({1, -1, 1, 1}) : output;
  }
  const int64_t block_max = std::min(P, kPositionsPerBlock);

  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "deform_conv2d_forward_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    std::vector<BilinearTap<acc_t>> taps(s.offset_groups * K * block_max);
    std::vector<acc_t> masks(s.offset_groups * K * block_max);
    at::Tensor columns = at::empty({s.in_channels * K, block_max}, input.options());
    // (N, G, C_out / G, P): the GEMM result of one group lands in a strided slice.
    at::Tensor out_view = output.view({s.batch, G, out_per_group, P});
    for (int64_t n = 0; n < s.batch; ++n) {
      const scalar_t* input_n = input.data_ptr<scalar_t>() + n * s.in_channels * s.in_plane();
      const scalar_t* offset_n = offset.data_ptr<scalar_t>() + n * offset.size(1) * P;
      const scalar_t* mask_n = s.use_mask ? mask.data_ptr<scalar_t>() + n * mask.size(1) * P
                                          : nullptr;
      for (int64_t p0 = 0; p0 < P; p0 += block_max) {
        const int64_t block = std::min(block_max, P - p0);
        compute_taps<scalar_t>(s, offset_n, mask_n, p0, block, taps.data(), masks.data());
        at::Tensor cols = columns.narrow(1, 0, block);
        if (block != block_max) cols = at::empty({s.in_channels * K, block}, input.options());
        fill_columns<scalar_t>(s, input_n, taps.data(), masks.data(), block,
                               cols.data_ptr<scalar_t>());
        const at::Tensor cols_g = cols.view({G, cols_per_group, block});
        for (int64_t g = 0; g < G; ++g) {
          out_view[n][g].narrow(1, p0, block).copy_(at::mm(weight[g], cols_g[g]));
        }
      }
    }
  });
  if (bias_arg.has_value()) {
    output.add_(bias_arg->view({1, -1, 1, 1}));
  }
  return output;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
deform_conv2d_backward_cpu(const at::Tensor& grad_output_arg, const at::Tensor& input_arg,
                           const at::Tensor& weight_arg, const at::Tensor& offset_arg,
                           const std::optional<at::Tensor>& mask_arg,
                           const std::optional<at::Tensor>& bias_arg, int64_t stride_h,
                           int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                           int64_t dilation_w) {
  const DeformConvShape s =
      check_deform_conv2d_args(input_arg, weight_arg, offset_arg, mask_arg, bias_arg, stride_h,
                               stride_w, pad_h, pad_w, dilation_h, dilation_w);
  check_grad_output(grad_output_arg, s, input_arg);
  TORCH_CHECK(input_arg.scalar_type() == at::kFloat || input_arg.scalar_type() == at::kDouble,
              "deform_conv2d: the CPU kernel supports float32 and float64: got ",
              input_arg.scalar_type());
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

  at::Tensor grad_input = at::zeros_like(input);
  at::Tensor grad_offset = at::zeros_like(offset);
  at::Tensor grad_mask =
      at::zeros({s.batch, s.offset_groups * K, s.out_h, s.out_w}, input.options());
  at::Tensor grad_weight = at::zeros({G, out_per_group, cols_per_group}, input.options());
  at::Tensor grad_bias = grad_output.sum({0, 2, 3});
  if (s.batch == 0 || P == 0) {
    return {grad_input, grad_weight.view_as(weight_arg), grad_offset, grad_mask, grad_bias};
  }
  const int64_t block_max = std::min(P, kPositionsPerBlock);
  const int64_t channels_per_group = s.channels_per_offset_group();

  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "deform_conv2d_backward_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    std::vector<BilinearTap<acc_t>> taps(s.offset_groups * K * block_max);
    std::vector<acc_t> masks(s.offset_groups * K * block_max);
    const at::Tensor grad_out_view = grad_output.view({s.batch, G, out_per_group, P});
    for (int64_t n = 0; n < s.batch; ++n) {
      const scalar_t* input_n = input.data_ptr<scalar_t>() + n * s.in_channels * s.in_plane();
      const scalar_t* offset_n = offset.data_ptr<scalar_t>() + n * offset.size(1) * P;
      const scalar_t* mask_n = s.use_mask ? mask.data_ptr<scalar_t>() + n * mask.size(1) * P
                                          : nullptr;
      scalar_t* grad_input_n =
          grad_input.data_ptr<scalar_t>() + n * s.in_channels * s.in_plane();
      scalar_t* grad_offset_n = grad_offset.data_ptr<scalar_t>() + n * offset.size(1) * P;
      scalar_t* grad_mask_n = grad_mask.data_ptr<scalar_t>() + n * grad_mask.size(1) * P;

      for (int64_t p0 = 0; p0 < P; p0 += block_max) {
        const int64_t block = std::min(block_max, P - p0);
        compute_taps<scalar_t>(s, offset_n, mask_n, p0, block, taps.data(), masks.data());
        at::Tensor cols = at::empty({s.in_channels * K, block}, input.options());
        fill_columns<scalar_t>(s, input_n, taps.data(), masks.data(), block,
                               cols.data_ptr<scalar_t>());
        const at::Tensor cols_g = cols.view({G, cols_per_group, block});
        at::Tensor grad_cols = at::empty({G, cols_per_group, block}, input.options());
        for (int64_t g = 0; g < G; ++g) {
          const at::Tensor grad_out_g = grad_out_view[n][g].narrow(1, p0, block);
          grad_weight[g].addmm_(grad_out_g, cols_g[g].t());
          at::Tensor grad_cols_g = grad_cols[g];
          at::mm_out(grad_cols_g, weight[g].t(), grad_out_g);
        }
        const scalar_t* gc = grad_cols.data_ptr<scalar_t>();

        // Input gradient. Offset groups own disjoint channels, so a thread per group (or per
        // channel, when there are fewer groups than threads) never writes where another does.
        const bool by_group = s.offset_groups >= at::get_num_threads();
        const int64_t units = by_group ? s.offset_groups : s.in_channels;
        at::parallel_for(0, units, 1, [&](int64_t begin, int64_t end) {
          for (int64_t unit = begin; unit < end; ++unit) {
            const int64_t group = by_group ? unit : unit / channels_per_group;
            const int64_t c_begin = by_group ? unit * channels_per_group : unit;
            const int64_t c_end = by_group ? c_begin + channels_per_group : unit + 1;
            for (int64_t k = 0; k < K; ++k) {
              const auto* tap_row = taps.data() + (group * K + k) * block;
              const acc_t* mask_row = masks.data() + (group * K + k) * block;
              for (int64_t j = 0; j < block; ++j) {
                const BilinearTap<acc_t> tap = tap_row[j];  // local: no aliasing with plane
                for (int64_t c = c_begin; c < c_end; ++c) {
                  const acc_t g = mask_row[j] * static_cast<acc_t>(gc[(c * K + k) * block + j]);
                  scalar_t* plane = grad_input_n + c * s.in_plane();
                  for (int i = 0; i < 4; ++i) {
                    plane[tap.index[i]] += static_cast<scalar_t>(tap.weight[i] * g);
                  }
                }
              }
            }
          }
        });

        // Offset and mask gradients: each (group, tap, position) sums over its channels.
        at::parallel_for(0, s.offset_groups * K, 1, [&](int64_t begin, int64_t end) {
          for (int64_t gk = begin; gk < end; ++gk) {
            const int64_t group = gk / K;
            const int64_t k = gk % K;
            scalar_t* grad_off_y = grad_offset_n + offset_y_channel(group, k, K) * P + p0;
            scalar_t* grad_off_x = grad_off_y + P;
            scalar_t* grad_m = grad_mask_n + gk * P + p0;
            for (int64_t j = 0; j < block; ++j) {
              const BilinearTap<acc_t> tap = taps[gk * block + j];
              acc_t sum_y = 0, sum_x = 0, sum_m = 0;
              for (int64_t c = group * channels_per_group; c < (group + 1) * channels_per_group;
                   ++c) {
                const scalar_t* plane = input_n + c * s.in_plane();
                const acc_t g = static_cast<acc_t>(gc[(c * K + k) * block + j]);
                acc_t d_y, d_x;
                const acc_t value = tap_sample_and_grad(tap, plane, &d_y, &d_x);
                sum_y += g * d_y;
                sum_x += g * d_x;
                sum_m += g * value;
              }
              const acc_t m = masks[gk * block + j];
              grad_off_y[j] = static_cast<scalar_t>(m * sum_y);
              grad_off_x[j] = static_cast<scalar_t>(m * sum_x);
              grad_m[j] = static_cast<scalar_t>(sum_m);
            }
          }
        });
      }
    }
  });
  return {grad_input, grad_weight.view_as(weight_arg), grad_offset, grad_mask, grad_bias};
}

}  // namespace
}  // namespace vsr

TORCH_LIBRARY_IMPL(vsr, CPU, m) {
  m.impl("deform_conv2d", &vsr::deform_conv2d_forward_cpu);
  m.impl("_deform_conv2d_backward", &vsr::deform_conv2d_backward_cpu);
}
