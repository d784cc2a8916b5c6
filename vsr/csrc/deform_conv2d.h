// Shapes and argument checks of vsr::deform_conv2d, shared by the CPU and CUDA kernels.
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace vsr {

// Every size a kernel needs, derived once from the arguments.
struct DeformConvShape {
  int64_t batch, in_channels, in_h, in_w;
  int64_t out_channels, kernel_h, kernel_w, out_h, out_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t weight_groups, offset_groups;
  bool use_mask;

  int64_t taps() const { return kernel_h * kernel_w; }
  int64_t out_positions() const { return out_h * out_w; }
  int64_t in_plane() const { return in_h * in_w; }
  int64_t channels_per_offset_group() const { return in_channels / offset_groups; }
};

// Checks every tensor and integer argument and returns the derived shape. Messages name the
// argument, what was expected and what came, like torchvision's.
DeformConvShape check_deform_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                                         const at::Tensor& offset,
                                         const std::optional<at::Tensor>& mask,
                                         const std::optional<at::Tensor>& bias, int64_t stride_h,
                                         int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                         int64_t dilation_h, int64_t dilation_w);

// Checks the incoming gradient of the backward op against the forward shape.
void check_grad_output(const at::Tensor& grad_output, const DeformConvShape& shape,
                       const at::Tensor& input);

}  // namespace vsr
