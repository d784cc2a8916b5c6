// Per-element maths of deformable convolution, shared by the CPU and CUDA kernels.
//
// Both kernels compile exactly these functions (the CPU kernel calls the value-based ones inside
// its loops over channels), so the CPU tests (against torchvision and a float64 reference)
// exercise the sampling and gradient rules the GPU runs. One exception: the CPU forward
// restates make_tap's rule in a loop over positions that vectorises
// (fill_forward_columns); the same tests check it, border cases included.
//
// Border rule (the same as torchvision's and mmcv's): each of the four integer neighbours of a
// sampling point (y, x) contributes only when it lies inside the image; outside neighbours read
// zero. So a point contributes nothing when y <= -1, y >= H, x <= -1 or x >= W. On the lines
// y = -1 and x = -1 the value is 0 but the coordinate gradient is the one-sided derivative
// from inside, as torchvision computes it.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define VSR_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VSR_HOST_DEVICE inline
#endif

namespace vsr {

// The four neighbours of a sampling point: where they are in the input plane, their bilinear
// weights, and what the coordinate gradient needs. Neighbours are ordered
// (y_low, x_low), (y_low, x_high), (y_high, x_low), (y_high, x_high).
template <typename acc_t>
struct BilinearTap {
  int64_t index[4];  // y * W + x of each neighbour; 0 (a safe address) when it is outside
  acc_t weight[4];   // bilinear weight; 0 when the neighbour or the whole point is outside
  acc_t frac_y;      // y - floor(y)
  acc_t frac_x;      // x - floor(x)
  uint8_t valid;     // bit i set when neighbour i is inside the image
};

// Where the kernel tap (ky, kx) of output position (out_y, out_x) samples before its
// learned offset is added: the regular convolution grid.
VSR_HOST_DEVICE int64_t grid_coordinate(int64_t out_pos, int64_t stride, int64_t pad,
                                        int64_t tap, int64_t dilation) {
  return out_pos * stride - pad + tap * dilation;
}

template <typename acc_t>
VSR_HOST_DEVICE BilinearTap<acc_t> make_tap(acc_t y, acc_t x, int64_t height, int64_t width) {
  BilinearTap<acc_t> tap;
  // Points further out have no neighbour inside; rejecting them early also keeps huge or NaN
  // coordinates (every comparison with NaN is false) away from the integer conversion.
  if (!(y >= acc_t(-1) && y <= acc_t(height) && x >= acc_t(-1) && x <= acc_t(width))) {
    for (int i = 0; i < 4; ++i) {
      tap.index[i] = 0;
      tap.weight[i] = acc_t(0);
    }
    tap.frac_y = acc_t(0);
    tap.frac_x = acc_t(0);
    tap.valid = 0;
    return tap;
  }
  // floor() by truncation, corrected for negatives (the check above bounds y and x); cheaper
  // than a libm call per tap on CPUs built for baseline x86-64.
  int64_t y_low = static_cast<int64_t>(y);
  int64_t x_low = static_cast<int64_t>(x);
  y_low -= static_cast<acc_t>(y_low) > y;
  x_low -= static_cast<acc_t>(x_low) > x;
  const acc_t ly = y - static_cast<acc_t>(y_low);
  const acc_t lx = x - static_cast<acc_t>(x_low);
  tap.frac_y = ly;
  tap.frac_x = lx;
  // Unsigned comparisons test 0 <= v < size in one go. Written without branches so both
  // compilers emit selects.
  const bool y_low_in = static_cast<uint64_t>(y_low) < static_cast<uint64_t>(height);
  const bool y_high_in = static_cast<uint64_t>(y_low + 1) < static_cast<uint64_t>(height);
  const bool x_low_in = static_cast<uint64_t>(x_low) < static_cast<uint64_t>(width);
  const bool x_high_in = static_cast<uint64_t>(x_low + 1) < static_cast<uint64_t>(width);
  const bool in0 = y_low_in && x_low_in, in1 = y_low_in && x_high_in;
  const bool in2 = y_high_in && x_low_in, in3 = y_high_in && x_high_in;
  const int64_t base = y_low * width + x_low;
  tap.index[0] = in0 ? base : 0;
  tap.index[1] = in1 ? base + 1 : 0;
  tap.index[2] = in2 ? base + width : 0;
  tap.index[3] = in3 ? base + width + 1 : 0;
  tap.weight[0] = in0 ? (1 - ly) * (1 - lx) : acc_t(0);
  tap.weight[1] = in1 ? (1 - ly) * lx : acc_t(0);
  tap.weight[2] = in2 ? ly * (1 - lx) : acc_t(0);
  tap.weight[3] = in3 ? ly * lx : acc_t(0);
  tap.valid = static_cast<uint8_t>(in0 | (in1 << 1) | (in2 << 2) | (in3 << 3));
  return tap;
}

// The bilinear value at the tap's point from its four neighbours' values (pass 0 for a
// neighbour outside the image).
template <typename acc_t>
VSR_HOST_DEVICE acc_t bilinear_value(const BilinearTap<acc_t>& tap, acc_t v0, acc_t v1, acc_t v2,
                                     acc_t v3) {
  return tap.weight[0] * v0 + tap.weight[1] * v1 + tap.weight[2] * v2 + tap.weight[3] * v3;
}

// The bilinear value and its derivatives d/dy and d/dx from the four neighbours' values. At
// integer coordinates the derivative is the one-sided one towards the higher neighbour, as in
// torchvision, so the two operators agree to rounding.
template <typename acc_t>
VSR_HOST_DEVICE acc_t bilinear_value_and_grad(const BilinearTap<acc_t>& tap, acc_t v0, acc_t v1,
                                              acc_t v2, acc_t v3, acc_t* d_y, acc_t* d_x) {
  const acc_t ly = tap.frac_y;
  const acc_t lx = tap.frac_x;
  *d_y = (1 - lx) * (v2 - v0) + lx * (v3 - v1);
  *d_x = (1 - ly) * (v1 - v0) + ly * (v3 - v2);
  return bilinear_value(tap, v0, v1, v2, v3);
}

// The four neighbours' values in `plane` (H * W elements), 0 outside the image.
template <typename acc_t, typename scalar_t>
VSR_HOST_DEVICE void neighbour_values(const BilinearTap<acc_t>& tap, const scalar_t* plane,
                                      acc_t v[4]) {
  for (int i = 0; i < 4; ++i) {
    v[i] = (tap.valid >> i) & 1u ? static_cast<acc_t>(plane[tap.index[i]]) : acc_t(0);
  }
}

// Bilinear value of `plane` at the tap's point.
template <typename acc_t, typename scalar_t>
VSR_HOST_DEVICE acc_t tap_sample(const BilinearTap<acc_t>& tap, const scalar_t* plane) {
  acc_t v[4];
  neighbour_values(tap, plane, v);
  return bilinear_value(tap, v[0], v[1], v[2], v[3]);
}

// Bilinear value of `plane` at the tap's point and its coordinate derivatives.
template <typename acc_t, typename scalar_t>
VSR_HOST_DEVICE acc_t tap_sample_and_grad(const BilinearTap<acc_t>& tap, const scalar_t* plane,
                                          acc_t* d_y, acc_t* d_x) {
  acc_t v[4];
  neighbour_values(tap, plane, v);
  return bilinear_value_and_grad(tap, v[0], v[1], v[2], v[3], d_y, d_x);
}

// The layout of the offset and mask tensors (torchvision's): for offset group g and kernel tap
// k (row-major over kh x kw), offset channels 2 * (g * K + k) and 2 * (g * K + k) + 1 hold the
// y and x displacement; mask channel g * K + k its modulation.
VSR_HOST_DEVICE int64_t offset_y_channel(int64_t group, int64_t tap, int64_t taps_per_group) {
  return 2 * (group * taps_per_group + tap);
}

}  // namespace vsr
