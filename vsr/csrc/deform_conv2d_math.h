// Per-element maths of deformable convolution, shared by the CPU and CUDA kernels.
//
// Both kernels compile exactly these functions, so the CPU tests (against torchvision and a
// float64 reference) exercise the sampling and gradient rules the GPU runs.
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
  for (int i = 0; i < 4; ++i) {
    tap.index[i] = 0;
    tap.weight[i] = acc_t(0);
  }
  tap.frac_y = acc_t(0);
  tap.frac_x = acc_t(0);
  tap.valid = 0;
  // Points further out have no neighbour inside; rejecting them early also keeps huge or NaN
  // coordinates (every comparison with NaN is false) away from the integer conversion.
  if (!(y >= acc_t(-1) && y <= acc_t(height) && x >= acc_t(-1) && x <= acc_t(width))) {
    return tap;
  }
  const acc_t y_floor = floor(y);
  const acc_t x_floor = floor(x);
  const int64_t y_low = static_cast<int64_t>(y_floor);
  const int64_t x_low = static_cast<int64_t>(x_floor);
  const int64_t y_high = y_low + 1;
  const int64_t x_high = x_low + 1;
  const acc_t ly = y - y_floor;
  const acc_t lx = x - x_floor;
  tap.frac_y = ly;
  tap.frac_x = lx;

  const bool y_low_in = y_low >= 0 && y_low < height;
  const bool y_high_in = y_high >= 0 && y_high < height;
  const bool x_low_in = x_low >= 0 && x_low < width;
  const bool x_high_in = x_high >= 0 && x_high < width;
  const bool inside[4] = {y_low_in && x_low_in, y_low_in && x_high_in, y_high_in && x_low_in,
                          y_high_in && x_high_in};
  const int64_t index[4] = {y_low * width + x_low, y_low * width + x_high,
                            y_high * width + x_low, y_high * width + x_high};
  const acc_t weight[4] = {(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx};
  for (int i = 0; i < 4; ++i) {
    if (inside[i]) {
      tap.index[i] = index[i];
      tap.weight[i] = weight[i];
      tap.valid |= static_cast<uint8_t>(1u << i);
    }
  }
  return tap;
}

// Bilinear value of `plane` (H * W elements) at the tap's point.
template <typename acc_t, typename scalar_t>
VSR_HOST_DEVICE acc_t tap_sample(const BilinearTap<acc_t>& tap, const scalar_t* plane) {
  acc_t value = acc_t(0);
  for (int i = 0; i < 4; ++i) {
    value += tap.weight[i] * static_cast<acc_t>(plane[tap.index[i]]);
  }
  return value;
}

// The bilinear value and its derivatives d/dy and d/dx, reading the neighbours once. At
// integer coordinates the derivative is the one-sided one towards the higher neighbour, as in
// torchvision, so the two operators agree to rounding.
template <typename acc_t, typename scalar_t>
VSR_HOST_DEVICE acc_t tap_sample_and_grad(const BilinearTap<acc_t>& tap, const scalar_t* plane,
                                          acc_t* d_y, acc_t* d_x) {
  acc_t v[4];
  acc_t value = acc_t(0);
  for (int i = 0; i < 4; ++i) {
    v[i] = (tap.valid >> i) & 1u ? static_cast<acc_t>(plane[tap.index[i]]) : acc_t(0);
    value += tap.weight[i] * v[i];
  }
  const acc_t ly = tap.frac_y;
  const acc_t lx = tap.frac_x;
  *d_y = (1 - lx) * (v[2] - v[0]) + lx * (v[3] - v[1]);
  *d_x = (1 - ly) * (v[1] - v[0]) + ly * (v[3] - v[2]);
  return value;
}

// The layout of the offset and mask tensors (torchvision's): for offset group g and kernel tap
// k (row-major over kh x kw), offset channels 2 * (g * K + k) and 2 * (g * K + k) + 1 hold the
// y and x displacement; mask channel g * K + k its modulation.
VSR_HOST_DEVICE int64_t offset_y_channel(int64_t group, int64_t tap, int64_t taps_per_group) {
  return 2 * (group * taps_per_group + tap);
}

}  // namespace vsr
