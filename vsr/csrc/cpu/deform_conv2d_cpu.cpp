// CPU kernels of vsr::deform_conv2d.
//
// Layout: each sample's input is transposed to channels-last (H, W, C) once, so the channels
// of an offset group are contiguous. A sampling point (one tap of one offset group at one
// output position) then reads its four neighbours as four contiguous channel vectors, and all
// loops over channels vectorise. The column buffer is (weight group, position, tap, channel),
// one block of output positions at a time, so it stays a few MB whatever the batch or image
// size. The forward hands whole blocks to threads: each fills its block's columns and runs
// the block's GEMM (ATen's BLAS, single-threaded there) while they are still in its cache.
// It fills a block one kernel tap at a time, computing that tap's sampling points for all the
// block's positions in one vectorised loop before sampling the channels.
//
// Offsets and masks are read in the caller's layout, NCHW or channels-last or a channel slice
// of either (the offset and mask halves of one convolution's output), without copies; their
// gradients are written (N, channels, H_out, W_out). A thread walks consecutive positions,
// so its strided reads and writes keep reusing the same few cache lines. Scratch buffers
// (columns, the backward's tap table) are reused across calls instead of being freshly mapped
// and zeroed by the OS each time.
//
// The backward pass gives each thread whole samples when there are at least as many samples
// as threads (training batches: batch x frames); otherwise it takes one sample at a time and
// scatters into the input gradient with each thread owning a range of channels, and
// computes the offset and mask gradients with each thread owning a range of positions. No
// atomics, and the same result whatever the thread count.
//
// bfloat16: inputs, columns and outputs are bf16 (half the memory traffic, and the GEMMs run
// on the CPU's bf16 dot-product units through oneDNN); every sum is taken in float32: the
// bilinear samples, the GEMMs' accumulators, and the gradients of input and weight, which
// collect many contributions and are rounded to bf16 once at the end.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../deform_conv2d.h"
#include "../deform_conv2d_math.h"

namespace vsr {
namespace {

// Output positions per block: enough for an efficient GEMM, few enough that the columns of a
// block stay in a core's L2 cache between being filled and being multiplied (EDVR: 256
// positions x 9 taps x 64 channels x 4 bytes = 590 KB; 1024 positions measured ~10% slower).
constexpr int64_t kPositionsPerBlock = 256;

template <typename scalar_t>
using acc_type = at::opmath_type<scalar_t>;

// A run of channels that lies in one offset group and one weight group: within a run, source
// (channels-last input) and destination (columns) channels are both contiguous.
struct ChannelRun {
  int64_t offset_group, weight_group, c_begin, c_end;
};

// Sizes of one block's work, shared by the forward and backward passes.
struct BlockLayout {
  int64_t channels, taps, weight_groups, channels_per_weight_group, channels_per_offset_group;

  // The runs covering channels [c_lo, c_hi), in channel order. Computed once per pass so the
  // inner loops do no integer division.
  std::vector<ChannelRun> runs(int64_t c_lo, int64_t c_hi) const {
    std::vector<ChannelRun> result;
    for (int64_t c = c_lo; c < c_hi;) {
      const int64_t og = c / channels_per_offset_group;
      const int64_t wg = c / channels_per_weight_group;
      const int64_t end = std::min({c_hi, (og + 1) * channels_per_offset_group,
                                    (wg + 1) * channels_per_weight_group});
      result.push_back({og, wg, c, end});
      c = end;
    }
    return result;
  }

  // The runs of each offset group's channels, indexed by offset group.
  std::vector<std::vector<ChannelRun>> runs_by_offset_group(int64_t offset_groups) const {
    std::vector<std::vector<ChannelRun>> result(offset_groups);
    for (const ChannelRun& run : runs(0, channels)) result[run.offset_group].push_back(run);
    return result;
  }

  // Offset of (position j, tap k, channel c) in a (G, block, K, C / G) column buffer.
  int64_t column_index(int64_t block, int64_t j, int64_t k, int64_t group, int64_t c) const {
    return ((group * block + j) * taps + k) * channels_per_weight_group +
           (c - group * channels_per_weight_group);
  }
};

// Where element (n, channel, position) of an offset or mask tensor lies: its (H_out, W_out)
// dimensions merge into one position index, whatever the channel and batch strides.
struct PlaneStrides {
  int64_t batch, channel, position;
};

// Calls fn(offset_group, k, tap, mask) for every tap of output position p of one sample.
// offset_n and mask_n point at the sample's first element; off_s and msk_s give the strides.
template <typename scalar_t, typename Fn>
void for_each_tap(const DeformConvShape& s, const scalar_t* offset_n, const PlaneStrides& off_s,
                  const scalar_t* mask_n, const PlaneStrides& msk_s, int64_t p, Fn&& fn) {
  using acc_t = acc_type<scalar_t>;
  const int64_t K = s.taps();
  const int64_t y0 = grid_coordinate(p / s.out_w, s.stride_h, s.pad_h, 0, s.dilation_h);
  const int64_t x0 = grid_coordinate(p % s.out_w, s.stride_w, s.pad_w, 0, s.dilation_w);
  for (int64_t og = 0; og < s.offset_groups; ++og) {
    for (int64_t ky = 0, k = 0; ky < s.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < s.kernel_w; ++kx, ++k) {
        const scalar_t* off =
            offset_n + offset_y_channel(og, k, K) * off_s.channel + p * off_s.position;
        const acc_t y = static_cast<acc_t>(y0 + ky * s.dilation_h) + static_cast<acc_t>(off[0]);
        const acc_t x =
            static_cast<acc_t>(x0 + kx * s.dilation_w) + static_cast<acc_t>(off[off_s.channel]);
        const acc_t m = mask_n != nullptr
                            ? static_cast<acc_t>(mask_n[(og * K + k) * msk_s.channel +
                                                        p * msk_s.position])
                            : acc_t(1);
        fn(og, k, make_tap<acc_t>(y, x, s.in_h, s.in_w), m);
      }
    }
  }
}

// Scratch memory reused by every call on this thread. Large fresh allocations are mapped
// and zero-filled by the OS on each call (a sizeable share of a small layer's time); these
// buffers keep their pages. They only grow; contents are undefined on entry.
enum ScratchSlot { kColumns, kGradColumns, kTapTable, kTapMasks, kNumScratchSlots };

char* scratch_bytes(ScratchSlot slot, size_t bytes) {
  thread_local std::vector<char> buffers[kNumScratchSlots];
  std::vector<char>& buffer = buffers[slot];
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

template <typename T>
T* scratch(ScratchSlot slot, int64_t count) {
  return reinterpret_cast<T*>(scratch_bytes(slot, static_cast<size_t>(count) * sizeof(T)));
}

// Pointers to the four neighbours' channel vectors (from channel c on) in a channels-last
// plane; neighbours outside the image point at a zero vector, so loops need no branches.
template <typename scalar_t, typename acc_t>
void neighbour_rows(const BilinearTap<acc_t>& tap, const scalar_t* plane_hwc, int64_t channels,
                    int64_t c, const scalar_t* zeros, const scalar_t* rows[4]) {
  for (int i = 0; i < 4; ++i) {
    rows[i] = (tap.valid >> i) & 1u ? plane_hwc + tap.index[i] * channels + c : zeros;
  }
}

// Channel values to and from the accumulation type. For bfloat16 these work on the raw bits
// without branches, so the channel loops below vectorise: c10::BFloat16's own conversion
// branches on NaN for every element, which leaves GCC with scalar code (measured: the bf16
// forward of a 32-channel layer took about twice as long). Same results: round to nearest
// even, NaN stays NaN.
template <typename scalar_t>
C10_ALWAYS_INLINE acc_type<scalar_t> to_acc(scalar_t value) {
  return static_cast<acc_type<scalar_t>>(value);
}

template <>
C10_ALWAYS_INLINE float to_acc<c10::BFloat16>(c10::BFloat16 value) {
  const uint32_t bits = static_cast<uint32_t>(value.x) << 16;
  float result;
  std::memcpy(&result, &bits, sizeof(result));
  return result;
}

template <typename scalar_t>
C10_ALWAYS_INLINE scalar_t from_acc(acc_type<scalar_t> value) {
  return static_cast<scalar_t>(value);
}

template <>
C10_ALWAYS_INLINE c10::BFloat16 from_acc<c10::BFloat16>(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  const uint16_t result = value != value ? uint16_t(0x7FC0) : static_cast<uint16_t>(rounded);
  return c10::BFloat16(result, c10::BFloat16::from_bits());
}

// *p in the accumulation type. A bfloat16 is read as its raw 16 bits, which vectorises in a
// loop over strided elements (a load of the c10::BFloat16 struct does not).
template <typename scalar_t>
C10_ALWAYS_INLINE acc_type<scalar_t> load_acc(const scalar_t* p) {
  return to_acc(*p);
}

template <>
C10_ALWAYS_INLINE float load_acc<c10::BFloat16>(const c10::BFloat16* p) {
  return to_acc(c10::BFloat16(*reinterpret_cast<const uint16_t*>(p), c10::BFloat16::from_bits()));
}

// Calls fn(std::integral_constant<int64_t, N>{}) with N = count for the channel counts a run
// usually has (channels per offset group: 8 in EDVR-M, 16 in EDVR-L), else with N = 0, meaning
// "count at run time". With a compile-time count the short channel loops below unroll into
// straight vector code instead of a loop with a remainder (a run is often one or two vectors).
template <typename Fn>
void with_fixed_count(int64_t count, Fn&& fn) {
  switch (count) {
    case 4: fn(std::integral_constant<int64_t, 4>{}); break;
    case 8: fn(std::integral_constant<int64_t, 8>{}); break;
    case 16: fn(std::integral_constant<int64_t, 16>{}); break;
    case 32: fn(std::integral_constant<int64_t, 32>{}); break;
    default: fn(std::integral_constant<int64_t, 0>{}); break;
  }
}

// out[c] = m * (bilinear value at the tap) for `count` channels (kFixed when non-zero), from
// the four neighbours' rows and bilinear weights (bilinear_value's sum, in its order).
template <int64_t kFixed, typename scalar_t, typename acc_t>
C10_ALWAYS_INLINE void sample_row(scalar_t* __restrict__ out, const scalar_t* const r[4],
                                  acc_t w0, acc_t w1, acc_t w2, acc_t w3, acc_t m,
                                  int64_t count) {
  const int64_t n = kFixed > 0 ? kFixed : count;
  const scalar_t* __restrict__ r0 = r[0];
  const scalar_t* __restrict__ r1 = r[1];
  const scalar_t* __restrict__ r2 = r[2];
  const scalar_t* __restrict__ r3 = r[3];
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    out[c] = from_acc<scalar_t>(m * (w0 * to_acc(r0[c]) + w1 * to_acc(r1[c]) +
                                     w2 * to_acc(r2[c]) + w3 * to_acc(r3[c])));
  }
}

// dst[c] += w * src[c] for `count` channels (kFixed when non-zero); dst is an accumulator.
template <int64_t kFixed, typename scalar_t, typename acc_t>
C10_ALWAYS_INLINE void scaled_add(acc_t* __restrict__ dst, const scalar_t* __restrict__ src,
                                  acc_t w, int64_t count) {
  const int64_t n = kFixed > 0 ? kFixed : count;
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    dst[c] += w * to_acc(src[c]);
  }
}

// Adds, over `count` channels (kFixed when non-zero), the column gradient times
// d(value)/dy, d(value)/dx and value at the tap: the offset and mask gradients before the
// mask factor.
template <int64_t kFixed, typename scalar_t, typename acc_t>
C10_ALWAYS_INLINE void accumulate_coordinate_grads(const BilinearTap<acc_t>& tap,
                                                   const scalar_t* const r[4],
                                                   const scalar_t* grad, int64_t count,
                                                   acc_t* sum_y, acc_t* sum_x, acc_t* sum_m) {
  const int64_t n = kFixed > 0 ? kFixed : count;
  acc_t run_y = 0, run_x = 0, run_m = 0;
#pragma omp simd reduction(+ : run_y, run_x, run_m)
  for (int64_t c = 0; c < n; ++c) {
    acc_t d_y, d_x;
    const acc_t value = bilinear_value_and_grad<acc_t>(
        tap, to_acc(r[0][c]), to_acc(r[1][c]), to_acc(r[2][c]), to_acc(r[3][c]), &d_y, &d_x);
    const acc_t g = to_acc(grad[c]);
    run_y += g * d_y;
    run_x += g * d_x;
    run_m += g * value;
  }
  *sum_y += run_y;
  *sum_x += run_x;
  *sum_m += run_m;
}

// The backward's columns of positions [p0, p0 + block): mask * bilinear sample, per channel.
// taps_of(j, fn) calls fn(offset_group, k, tap, mask) for every tap of block position j, from
// the backward's tap table (which its other passes read too). runs_by_og: the layout's
// runs_by_offset_group, computed once per call.
template <typename scalar_t, typename TapsOf>
void fill_columns(const DeformConvShape& s, const BlockLayout& layout,
                  const std::vector<std::vector<ChannelRun>>& runs_by_og,
                  const scalar_t* input_hwc, const scalar_t* zeros, int64_t block,
                  TapsOf&& taps_of, scalar_t* columns) {
  using acc_t = acc_type<scalar_t>;
  at::parallel_for(0, block, 16, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      taps_of(j, [&](int64_t og, int64_t k, const BilinearTap<acc_t>& tap, acc_t m) {
        for (const ChannelRun& run : runs_by_og[og]) {
          const scalar_t* r[4];
          neighbour_rows(tap, input_hwc, s.in_channels, run.c_begin, zeros, r);
          scalar_t* out = columns + layout.column_index(block, j, k, run.weight_group, run.c_begin);
          const int64_t count = run.c_end - run.c_begin;
          with_fixed_count(count, [&](auto fixed) {
            sample_row<decltype(fixed)::value>(out, r, tap.weight[0], tap.weight[1],
                                               tap.weight[2], tap.weight[3], m, count);
          });
        }
      });
    }
  });
}

// The forward's columns of positions [p0, p0 + block) of one sample, one (offset group, kernel
// tap) at a time: first that tap's sampling point for every position of the block, in one
// loop over positions, kept in small arrays (neighbour indices, which neighbours are inside,
// bilinear weights, mask); then the channel vectors. Computed position by position inside
// the channel work, the coordinate arithmetic cost as much as the sampling. The rules are
// make_tap's, as in the backward and the CUDA kernels. runs_by_og as for fill_columns.
template <typename scalar_t>
void fill_forward_columns(const DeformConvShape& s, const BlockLayout& layout,
                          const std::vector<std::vector<ChannelRun>>& runs_by_og,
                          const scalar_t* input_hwc, const scalar_t* zeros,
                          const scalar_t* offset_n, const PlaneStrides& off_s,
                          const scalar_t* mask_n, const PlaneStrides& msk_s, int64_t p0,
                          int64_t block, scalar_t* columns) {
  using acc_t = acc_type<scalar_t>;
  const int64_t K = s.taps();
  const int64_t C = s.in_channels;
  const int64_t row = s.in_w * C;  // elements from one input row to the next
  // The regular grid of each position (before the kernel tap and the learned offset).
  int32_t grid_y[kPositionsPerBlock], grid_x[kPositionsPerBlock];
  for (int64_t j = 0; j < block; ++j) {
    grid_y[j] = static_cast<int32_t>(
        grid_coordinate((p0 + j) / s.out_w, s.stride_h, s.pad_h, 0, s.dilation_h));
    grid_x[j] = static_cast<int32_t>(
        grid_coordinate((p0 + j) % s.out_w, s.stride_w, s.pad_w, 0, s.dilation_w));
  }
  int32_t pixel[kPositionsPerBlock];  // y_low * W + x_low: neighbour 0; 1, W, W + 1 further
  uint8_t valid[kPositionsPerBlock];   // bit i: neighbour i lies inside the image
  acc_t weight[4][kPositionsPerBlock], mask[kPositionsPerBlock];
  const acc_t height = static_cast<acc_t>(s.in_h), width = static_cast<acc_t>(s.in_w);
  const uint32_t h = static_cast<uint32_t>(s.in_h), w = static_cast<uint32_t>(s.in_w);
  for (int64_t og = 0; og < s.offset_groups; ++og) {
    for (int64_t ky = 0, k = 0; ky < s.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < s.kernel_w; ++kx, ++k) {
        const scalar_t* off_y =
            offset_n + offset_y_channel(og, k, K) * off_s.channel + p0 * off_s.position;
        const scalar_t* off_x = off_y + off_s.channel;
        const int32_t dy = static_cast<int32_t>(ky * s.dilation_h);
        const int32_t dx = static_cast<int32_t>(kx * s.dilation_w);
        // make_tap's rules (deform_conv2d_math.h), written without branches (`&`, not `&&`)
        // or 64-bit integers so that the loop runs in vector registers.
#pragma omp simd
        for (int64_t j = 0; j < block; ++j) {
          acc_t y = static_cast<acc_t>(grid_y[j] + dy) + load_acc(off_y + j * off_s.position);
          acc_t x = static_cast<acc_t>(grid_x[j] + dx) + load_acc(off_x + j * off_s.position);
          // No neighbour inside (or NaN): contributes nothing.
          const bool near = (y >= acc_t(-1)) & (y <= height) & (x >= acc_t(-1)) & (x <= width);
          y = near ? y : acc_t(0);
          x = near ? x : acc_t(0);
          int32_t y_low = static_cast<int32_t>(y);
          int32_t x_low = static_cast<int32_t>(x);
          y_low -= static_cast<acc_t>(y_low) > y;  // floor
          x_low -= static_cast<acc_t>(x_low) > x;
          const acc_t ly = y - static_cast<acc_t>(y_low);
          const acc_t lx = x - static_cast<acc_t>(x_low);
          const bool y_low_in = near & (static_cast<uint32_t>(y_low) < h);
          const bool y_high_in = near & (static_cast<uint32_t>(y_low + 1) < h);
          const bool x_low_in = static_cast<uint32_t>(x_low) < w;
          const bool x_high_in = static_cast<uint32_t>(x_low + 1) < w;
          const bool in0 = y_low_in & x_low_in, in1 = y_low_in & x_high_in;
          const bool in2 = y_high_in & x_low_in, in3 = y_high_in & x_high_in;
          weight[0][j] = in0 ? (1 - ly) * (1 - lx) : acc_t(0);
          weight[1][j] = in1 ? (1 - ly) * lx : acc_t(0);
          weight[2][j] = in2 ? ly * (1 - lx) : acc_t(0);
          weight[3][j] = in3 ? ly * lx : acc_t(0);
          valid[j] = static_cast<uint8_t>(in0 | (in1 << 1) | (in2 << 2) | (in3 << 3));
          pixel[j] = y_low * static_cast<int32_t>(w) + x_low;
        }
        if (mask_n != nullptr) {
          const scalar_t* m = mask_n + (og * K + k) * msk_s.channel + p0 * msk_s.position;
#pragma omp simd
          for (int64_t j = 0; j < block; ++j) mask[j] = load_acc(m + j * msk_s.position);
        } else {
          std::fill(mask, mask + block, acc_t(1));
        }
        for (const ChannelRun& run : runs_by_og[og]) {
          const int64_t count = run.c_end - run.c_begin;
          const scalar_t* input_c = input_hwc + run.c_begin;
          with_fixed_count(count, [&](auto fixed) {
            for (int64_t j = 0; j < block; ++j) {
              const int64_t o = static_cast<int64_t>(pixel[j]) * C;  // neighbour 0's element
              const scalar_t* r[4] = {
                  valid[j] & 1u ? input_c + o : zeros,
                  valid[j] & 2u ? input_c + o + C : zeros,
                  valid[j] & 4u ? input_c + o + row : zeros,
                  valid[j] & 8u ? input_c + o + row + C : zeros,
              };
              scalar_t* out = columns + layout.column_index(block, j, k, run.weight_group,
                                                            run.c_begin);
              sample_row<decltype(fixed)::value>(
                  out, r, weight[0][j], weight[1][j], weight[2][j], weight[3][j], mask[j],
                  count);
            }
          });
        }
      }
    }
  }
}

struct Prepared {
  DeformConvShape shape;
  BlockLayout layout;
  // Channels-last input, offset and mask (read through their strides) and weight_rows
  // (G, C_out / G, K * C / G).
  at::Tensor input, offset, mask, weight_rows;
  PlaneStrides offset_strides{0, 0, 0}, mask_strides{0, 0, 0};
};

// `t` itself when its (H, W) dimensions merge into one position index (NCHW, channels-last
// and channel slices of either do), else a contiguous copy; `strides` says how to read it.
at::Tensor positions_mergeable(const at::Tensor& t, PlaneStrides* strides) {
  const int64_t h = t.size(2), w = t.size(3);
  const bool mergeable = h == 1 || w == 1 || t.stride(2) == w * t.stride(3);
  const at::Tensor view = mergeable ? t : t.contiguous();
  *strides = {view.stride(0), view.stride(1), w == 1 ? view.stride(2) : view.stride(3)};
  return view;
}

Prepared prepare(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& offset,
                 const std::optional<at::Tensor>& mask, const std::optional<at::Tensor>& bias,
                 int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                 int64_t dilation_h, int64_t dilation_w) {
  Prepared prep;
  prep.shape = check_deform_conv2d_args(input, weight, offset, mask, bias, stride_h, stride_w,
                                        pad_h, pad_w, dilation_h, dilation_w);
  const DeformConvShape& s = prep.shape;
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble ||
                  input.scalar_type() == at::kBFloat16,
              "deform_conv2d: the CPU kernel supports float32, float64 and bfloat16: got ",
              input.scalar_type(),
              " (under torch.autocast the CPU kernel runs in bfloat16, or float32 for other "
              "autocast dtypes)");
  const int64_t G = s.weight_groups;
  prep.layout = BlockLayout{s.in_channels, s.taps(), G, s.in_channels / G,
                            s.channels_per_offset_group()};
  // (N, H, W, C): one sample's neighbours are contiguous channel vectors.
  prep.input = input.permute({0, 2, 3, 1}).contiguous();
  prep.offset = positions_mergeable(offset, &prep.offset_strides);
  if (s.use_mask) prep.mask = positions_mergeable(*mask, &prep.mask_strides);
  // weight[o, c, ky, kx] -> rows[g][o][k * C/G + c], matching the column order (tap, channel).
  prep.weight_rows = weight.reshape({G, s.out_channels / G, s.in_channels / G, s.taps()})
                         .permute({0, 1, 3, 2})
                         .contiguous()
                         .view({G, s.out_channels / G, s.taps() * (s.in_channels / G)});
  return prep;
}

at::Tensor deform_conv2d_forward_cpu(const at::Tensor& input_arg, const at::Tensor& weight_arg,
                                     const at::Tensor& offset_arg,
                                     const std::optional<at::Tensor>& mask_arg,
                                     const std::optional<at::Tensor>& bias_arg, int64_t stride_h,
                                     int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                     int64_t dilation_h, int64_t dilation_w) {
  const Prepared prep = prepare(input_arg, weight_arg, offset_arg, mask_arg, bias_arg, stride_h,
                                stride_w, pad_h, pad_w, dilation_h, dilation_w);
  const DeformConvShape& s = prep.shape;
  // The forward indexes input pixels with 32-bit integers (they vectorise).
  TORCH_CHECK((s.in_h + 1) * (s.in_w + 1) < (int64_t{1} << 31),
              "deform_conv2d: the CPU kernel takes inputs of up to 2^31 pixels per channel: got ",
              s.in_h, "x", s.in_w, "; split the input into tiles");
  const int64_t G = s.weight_groups;
  const int64_t P = s.out_positions();
  const int64_t out_per_group = s.out_channels / G;
  const int64_t row_length = s.taps() * (s.in_channels / G);

  // Every element is written below (one GEMM per block and group).
  at::Tensor output = at::empty({s.batch, s.out_channels, s.out_h, s.out_w}, input_arg.options());
  if (s.batch > 0 && P > 0) {
    const int64_t block_max = std::min(P, kPositionsPerBlock);
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, input_arg.scalar_type(),
                                   "deform_conv2d_forward_cpu", [&] {
      const std::vector<scalar_t> zeros(s.in_channels, scalar_t(0));
      const int64_t column_count = G * block_max * row_length;
      const int64_t blocks_per_sample = (P + block_max - 1) / block_max;
      const auto runs_by_og = prep.layout.runs_by_offset_group(s.offset_groups);
      at::Tensor out_view = output.view({s.batch, G, out_per_group, P});
      // Each thread fills and multiplies whole blocks in its own column buffer: one parallel
      // region per call. (Filling every block with all threads, then multiplying, paid a
      // fork and a barrier per block: ~15 % of the time on EDVR-tiny's 32-channel layers.)
      // Nested parallel_for calls (the filling's, the GEMM's) run on the calling thread. The
      // GEMMs go through the dispatcher, so every thread takes on the caller's thread-local
      // state (inference mode, dispatch keys already handled above this kernel).
      const at::ThreadLocalState caller_state;
      at::parallel_for(0, s.batch * blocks_per_sample, 1, [&](int64_t first, int64_t last) {
        const at::ThreadLocalStateGuard state_guard(caller_state);
        at::Tensor column_buffer = at::from_blob(scratch<scalar_t>(kColumns, column_count),
                                                 {column_count}, input_arg.options());
        for (int64_t b = first; b < last; ++b) {
          const int64_t n = b / blocks_per_sample;
          const int64_t p0 = (b % blocks_per_sample) * block_max;
          const int64_t block = std::min(block_max, P - p0);
          const scalar_t* input_hwc =
              prep.input.data_ptr<scalar_t>() + n * s.in_channels * s.in_plane();
          const scalar_t* offset_n =
              prep.offset.data_ptr<scalar_t>() + n * prep.offset_strides.batch;
          const scalar_t* mask_n =
              s.use_mask ? prep.mask.data_ptr<scalar_t>() + n * prep.mask_strides.batch : nullptr;
          const at::Tensor columns =
              column_buffer.narrow(0, 0, G * block * row_length).view({G, block, row_length});
          fill_forward_columns<scalar_t>(s, prep.layout, runs_by_og, input_hwc, zeros.data(),
                                         offset_n, prep.offset_strides, mask_n,
                                         prep.mask_strides, p0, block,
                                         columns.data_ptr<scalar_t>());
          for (int64_t g = 0; g < G; ++g) {
            // (C_out / G, K * C / G) x (K * C / G, block): BLAS reads the columns transposed
            // and writes straight into the output rows (leading dimension P), no copy.
            at::Tensor out_rows = out_view[n][g].narrow(1, p0, block);
            at::mm_out(out_rows, prep.weight_rows[g], columns[g].t());
          }
        }
      });
    });
  }
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
  const Prepared prep = prepare(input_arg, weight_arg, offset_arg, mask_arg, bias_arg, stride_h,
                                stride_w, pad_h, pad_w, dilation_h, dilation_w);
  const DeformConvShape& s = prep.shape;
  const BlockLayout& layout = prep.layout;
  check_grad_output(grad_output_arg, s, input_arg);
  const at::Tensor grad_output = grad_output_arg.contiguous();
  const int64_t G = s.weight_groups;
  const int64_t K = s.taps();
  const int64_t P = s.out_positions();
  const int64_t C = s.in_channels;
  const int64_t out_per_group = s.out_channels / G;
  const int64_t row_length = K * (C / G);

  // The input and weight gradients are accumulated in float32 (float64 for float64 inputs),
  // the input gradient channels-last like the input it mirrors.
  const at::TensorOptions acc_options =
      input_arg.options().dtype(at::toOpMathType(input_arg.scalar_type()));
  at::Tensor grad_input_hwc = at::zeros(prep.input.sizes(), acc_options);
  // Offset and mask gradients: every element is written once, by the thread owning its
  // position (with no mask, the mask gradient is still computed, then ignored by autograd).
  at::Tensor grad_offset = at::empty(offset_arg.sizes(), input_arg.options());
  at::Tensor grad_mask = at::empty({s.batch, s.offset_groups * K, s.out_h, s.out_w},
                                   input_arg.options());
  // With at least one sample per thread (training: batch x frames), each thread runs whole
  // samples: no fork and barrier per block and pass, and GEMMs too small to split well run
  // whole on one core. With fewer samples (batch 1), one sample at a time, its loops split
  // over the threads. Each element of the input, offset and mask gradients is summed in the
  // same order either way, so they do not depend on the thread count; the weight gradient is
  // then summed per sample, and the samples in order.
  const int64_t threads = at::get_num_threads();
  const bool sample_per_thread = threads > 1 && s.batch >= threads;
  at::Tensor grad_weight_sums = at::zeros(
      {sample_per_thread ? s.batch : 1, G, out_per_group, row_length}, acc_options);
  at::Tensor grad_bias = grad_output.sum({0, 2, 3});

  if (s.batch > 0 && P > 0) {
    const int64_t block_max = std::min(P, kPositionsPerBlock);
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, input_arg.scalar_type(),
                                   "deform_conv2d_backward_cpu", [&] {
      using acc_t = acc_type<scalar_t>;
      const std::vector<scalar_t> zeros(C, scalar_t(0));
      const int64_t column_count = G * block_max * row_length;
      const at::Tensor grad_out_view = grad_output.view({s.batch, G, out_per_group, P});
      const auto runs_by_og = layout.runs_by_offset_group(s.offset_groups);

      // The whole backward of sample n. Its loops split their work over threads when called
      // outside a parallel region (at::parallel_for runs inline inside one).
      auto backward_sample = [&](int64_t n) {
        // Scratch of the thread running this sample.
        BilinearTap<acc_t>* taps =
            scratch<BilinearTap<acc_t>>(kTapTable, block_max * s.offset_groups * K);
        acc_t* masks = scratch<acc_t>(kTapMasks, block_max * s.offset_groups * K);
        at::Tensor column_buffer = at::from_blob(scratch<scalar_t>(kColumns, column_count),
                                                 {column_count}, input_arg.options());
        at::Tensor grad_column_buffer = at::from_blob(
            scratch<scalar_t>(kGradColumns, column_count), {column_count}, input_arg.options());
        at::Tensor grad_weight_n = grad_weight_sums[sample_per_thread ? n : 0];
        const scalar_t* input_hwc = prep.input.data_ptr<scalar_t>() + n * C * s.in_plane();
        const scalar_t* offset_n = prep.offset.data_ptr<scalar_t>() + n * prep.offset_strides.batch;
        const scalar_t* mask_n =
            s.use_mask ? prep.mask.data_ptr<scalar_t>() + n * prep.mask_strides.batch : nullptr;
        acc_t* grad_input_n = grad_input_hwc.data_ptr<acc_t>() + n * C * s.in_plane();
        scalar_t* grad_offset_n = grad_offset.data_ptr<scalar_t>() + n * P * 2 * s.offset_groups * K;
        scalar_t* grad_mask_n = grad_mask.data_ptr<scalar_t>() + n * P * s.offset_groups * K;

        for (int64_t p0 = 0; p0 < P; p0 += block_max) {
          const int64_t block = std::min(block_max, P - p0);
          const at::Tensor columns =
              column_buffer.narrow(0, 0, G * block * row_length).view({G, block, row_length});
          const at::Tensor grad_columns =
              grad_column_buffer.narrow(0, 0, G * block * row_length).view({G, block, row_length});
          // Taps of this block, (position, offset group, tap), shared by the passes below.
          at::parallel_for(0, block, 16, [&](int64_t begin, int64_t end) {
            for (int64_t j = begin; j < end; ++j) {
              for_each_tap(s, offset_n, prep.offset_strides, mask_n, prep.mask_strides, p0 + j,
                           [&](int64_t og, int64_t k, const BilinearTap<acc_t>& tap, acc_t m) {
                taps[(j * s.offset_groups + og) * K + k] = tap;
                masks[(j * s.offset_groups + og) * K + k] = m;
              });
            }
          });

          auto taps_of = [&](int64_t j, auto&& fn) {
            for (int64_t og = 0, t = j * s.offset_groups * K; og < s.offset_groups; ++og) {
              for (int64_t k = 0; k < K; ++k, ++t) fn(og, k, taps[t], masks[t]);
            }
          };
          fill_columns<scalar_t>(s, layout, runs_by_og, input_hwc, zeros.data(), block, taps_of,
                                 columns.data_ptr<scalar_t>());
          for (int64_t g = 0; g < G; ++g) {
            const at::Tensor grad_out_g = grad_out_view[n][g].narrow(1, p0, block);
            if constexpr (std::is_same_v<scalar_t, acc_t>) {
              grad_weight_n[g].addmm_(grad_out_g, columns[g]);
            } else {  // the block's product in bf16 (fp32 accumulation), summed in fp32
              grad_weight_n[g].add_(at::mm(grad_out_g, columns[g]));
            }
            at::Tensor grad_columns_g = grad_columns[g];
            at::mm_out(grad_columns_g, grad_out_g.t(), prep.weight_rows[g]);
          }
          const scalar_t* gcol = grad_columns.data_ptr<scalar_t>();

          // Input gradient: each thread owns a range of channels of every pixel.
          at::parallel_for(0, C, 1, [&](int64_t c_lo, int64_t c_hi) {
            const std::vector<ChannelRun> runs = layout.runs(c_lo, c_hi);
            for (int64_t j = 0; j < block; ++j) {
              for (const ChannelRun& run : runs) {
                const int64_t count = run.c_end - run.c_begin;
                for (int64_t k = 0; k < K; ++k) {
                  const int64_t t = (j * s.offset_groups + run.offset_group) * K + k;
                  const BilinearTap<acc_t> tap = taps[t];
                  const scalar_t* grad =
                      gcol + layout.column_index(block, j, k, run.weight_group, run.c_begin);
                  for (int i = 0; i < 4; ++i) {
                    if (!((tap.valid >> i) & 1u) || tap.weight[i] == acc_t(0)) continue;
                    const acc_t w = masks[t] * tap.weight[i];
                    with_fixed_count(count, [&](auto fixed) {
                      scaled_add<decltype(fixed)::value>(
                          grad_input_n + tap.index[i] * C + run.c_begin, grad, w, count);
                    });
                  }
                }
              }
            }
          });

          // Offset and mask gradients: each thread owns a range of positions.
          at::parallel_for(0, block, 16, [&](int64_t begin, int64_t end) {
            for (int64_t j = begin; j < end; ++j) {
              for (int64_t og = 0; og < s.offset_groups; ++og) {
                for (int64_t k = 0; k < K; ++k) {
                  const int64_t t = (j * s.offset_groups + og) * K + k;
                  const BilinearTap<acc_t> tap = taps[t];
                  acc_t sum_y = 0, sum_x = 0, sum_m = 0;
                  for (const ChannelRun& run : runs_by_og[og]) {
                    const scalar_t* r[4];
                    neighbour_rows(tap, input_hwc, C, run.c_begin, zeros.data(), r);
                    const scalar_t* grad =
                        gcol + layout.column_index(block, j, k, run.weight_group, run.c_begin);
                    const int64_t count = run.c_end - run.c_begin;
                    with_fixed_count(count, [&](auto fixed) {
                      accumulate_coordinate_grads<decltype(fixed)::value>(
                          tap, r, grad, count, &sum_y, &sum_x, &sum_m);
                    });
                  }
                  scalar_t* grad_off = grad_offset_n + offset_y_channel(og, k, K) * P + p0 + j;
                  grad_off[0] = static_cast<scalar_t>(masks[t] * sum_y);
                  grad_off[P] = static_cast<scalar_t>(masks[t] * sum_x);
                  grad_mask_n[(og * K + k) * P + p0 + j] = static_cast<scalar_t>(sum_m);
                }
              }
            }
          });
        }
      };

      // (Not one parallel_for with a grain of the whole batch: even when it runs inline it
      // marks a parallel region, and the loops inside would not split.) Worker threads take
      // the caller's thread-local state for the GEMMs they dispatch.
      if (sample_per_thread) {
        const at::ThreadLocalState caller_state;
        at::parallel_for(0, s.batch, 1, [&](int64_t first, int64_t last) {
          const at::ThreadLocalStateGuard state_guard(caller_state);
          for (int64_t n = first; n < last; ++n) backward_sample(n);
        });
      } else {
        for (int64_t n = 0; n < s.batch; ++n) backward_sample(n);
      }
    });
  }
  // Back to the caller's layouts: (N, C, H, W) and (C_out, C_in / G, kh, kw).
  at::Tensor grad_input = at::empty(input_arg.sizes(), input_arg.options());
  grad_input.copy_(grad_input_hwc.permute({0, 3, 1, 2}));
  at::Tensor grad_weight =
      grad_weight_sums.sum(0)
          .view({G, out_per_group, K, C / G})
          .permute({0, 1, 3, 2})
          .reshape({s.out_channels, C / G, s.kernel_h, s.kernel_w})
          .to(weight_arg.scalar_type());
  return {grad_input, grad_weight, grad_offset, grad_mask, grad_bias};
}

}  // namespace
}  // namespace vsr

TORCH_LIBRARY_IMPL(vsr, CPU, m) {
  m.impl("deform_conv2d", &vsr::deform_conv2d_forward_cpu);
  m.impl("_deform_conv2d_backward", &vsr::deform_conv2d_backward_cpu);
}
