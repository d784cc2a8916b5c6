// The vsr::deform_conv2d operator: schema, argument checks, autocast rule, build facts.
//
// Kernels register per dispatch key in cpu/ and cuda/; autograd and the fake (shape-only)
// implementation are registered from Python (vsr/ops/deform_conv.py) with torch.library.
#include "deform_conv2d.h"

#include <ATen/autocast_mode.h>
#include <Python.h>
#include <torch/library.h>
#include <torch/version.h>

#include <string>

// Lets `import vsr._C` load this library (and so run the TORCH_LIBRARY registrations).
extern "C" {
PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT, "_C", "vsr's compiled operators (torch.ops.vsr)", -1, nullptr};
  return PyModule_Create(&module_def);
}
}

#define VSR_STRINGIZE_(x) #x
#define VSR_STRINGIZE(x) VSR_STRINGIZE_(x)

namespace vsr {

namespace {

std::string sizes_str(const at::Tensor& t) {
  std::string text = "(";
  for (int64_t i = 0; i < t.dim(); ++i) {
    text += std::to_string(t.size(i)) + (i + 1 < t.dim() ? ", " : "");
  }
  return text + ")";
}

void check_same_device_and_dtype(const at::Tensor& input, const at::Tensor& other,
                                 const char* name) {
  TORCH_CHECK(other.device() == input.device(), "deform_conv2d: ", name,
              " must be on the same device as input: got ", other.device(), ", expected ",
              input.device());
  TORCH_CHECK(other.scalar_type() == input.scalar_type(), "deform_conv2d: ", name,
              " must have the same dtype as input: got ", other.scalar_type(), ", expected ",
              input.scalar_type());
}

}  // namespace

DeformConvShape check_deform_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                                         const at::Tensor& offset,
                                         const std::optional<at::Tensor>& mask,
                                         const std::optional<at::Tensor>& bias, int64_t stride_h,
                                         int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                         int64_t dilation_h, int64_t dilation_w) {
  TORCH_CHECK(input.dim() == 4, "deform_conv2d: input must be 4-D (N, C_in, H, W): got shape ",
              sizes_str(input));
  TORCH_CHECK(weight.dim() == 4,
              "deform_conv2d: weight must be 4-D (C_out, C_in / groups, kh, kw): got shape ",
              sizes_str(weight));
  TORCH_CHECK(offset.dim() == 4,
              "deform_conv2d: offset must be 4-D (N, 2 * offset_groups * kh * kw, H_out, "
              "W_out): got shape ",
              sizes_str(offset));
  TORCH_CHECK(at::isFloatingType(input.scalar_type()),
              "deform_conv2d: input must be a floating-point tensor: got ", input.scalar_type());
  check_same_device_and_dtype(input, weight, "weight");
  check_same_device_and_dtype(input, offset, "offset");
  TORCH_CHECK(stride_h > 0 && stride_w > 0, "deform_conv2d: stride must be positive: got (",
              stride_h, ", ", stride_w, ")");
  TORCH_CHECK(pad_h >= 0 && pad_w >= 0, "deform_conv2d: padding must be non-negative: got (",
              pad_h, ", ", pad_w, ")");
  TORCH_CHECK(dilation_h > 0 && dilation_w > 0,
              "deform_conv2d: dilation must be positive: got (", dilation_h, ", ", dilation_w,
              ")");

  DeformConvShape s{};
  s.batch = input.size(0);
  s.in_channels = input.size(1);
  s.in_h = input.size(2);
  s.in_w = input.size(3);
  s.out_channels = weight.size(0);
  s.kernel_h = weight.size(2);
  s.kernel_w = weight.size(3);
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.pad_h = pad_h;
  s.pad_w = pad_w;
  s.dilation_h = dilation_h;
  s.dilation_w = dilation_w;
  s.use_mask = mask.has_value();

  TORCH_CHECK(s.kernel_h > 0 && s.kernel_w > 0,
              "deform_conv2d: the kernel must be at least 1x1: weight has shape ",
              sizes_str(weight));
  TORCH_CHECK(weight.size(1) > 0 && s.in_channels % weight.size(1) == 0,
              "deform_conv2d: input.shape[1] (", s.in_channels,
              ") must be a multiple of weight.shape[1] (", weight.size(1),
              "): their ratio is the number of weight groups");
  s.weight_groups = s.in_channels / weight.size(1);
  TORCH_CHECK(s.out_channels % s.weight_groups == 0, "deform_conv2d: weight.shape[0] (",
              s.out_channels, ") must be divisible by the number of weight groups (",
              s.weight_groups, ")");

  const int64_t taps = s.kernel_h * s.kernel_w;
  TORCH_CHECK(offset.size(1) > 0 && offset.size(1) % (2 * taps) == 0,
              "deform_conv2d: offset.shape[1] is not valid: got ", offset.size(1),
              ", expected a positive multiple of 2 * kh * kw = ", 2 * taps);
  s.offset_groups = offset.size(1) / (2 * taps);
  TORCH_CHECK(s.in_channels % s.offset_groups == 0, "deform_conv2d: input.shape[1] (",
              s.in_channels, ") must be divisible by the number of offset groups (",
              s.offset_groups, ") implied by offset.shape[1] = ", offset.size(1));

  const int64_t span_h = dilation_h * (s.kernel_h - 1) + 1;
  const int64_t span_w = dilation_w * (s.kernel_w - 1) + 1;
  s.out_h = (s.in_h + 2 * pad_h - span_h) / stride_h + 1;
  s.out_w = (s.in_w + 2 * pad_w - span_w) / stride_w + 1;
  TORCH_CHECK(s.in_h + 2 * pad_h >= span_h && s.in_w + 2 * pad_w >= span_w,
              "deform_conv2d: the padded input (", s.in_h + 2 * pad_h, "x", s.in_w + 2 * pad_w,
              ") is smaller than the dilated kernel (", span_h, "x", span_w, ")");

  TORCH_CHECK(offset.size(0) == s.batch, "deform_conv2d: offset.shape[0] is not valid: got ",
              offset.size(0), ", expected the batch size ", s.batch);
  TORCH_CHECK(offset.size(2) == s.out_h && offset.size(3) == s.out_w,
              "deform_conv2d: offset's spatial size is not valid: got ", offset.size(2), "x",
              offset.size(3), ", expected the output size ", s.out_h, "x", s.out_w);

  if (mask.has_value()) {
    const at::Tensor& m = *mask;
    check_same_device_and_dtype(input, m, "mask");
    TORCH_CHECK(m.dim() == 4, "deform_conv2d: mask must be 4-D (N, offset_groups * kh * kw, ",
                "H_out, W_out): got shape ", sizes_str(m));
    TORCH_CHECK(m.size(1) == s.offset_groups * taps,
                "deform_conv2d: mask.shape[1] is not valid: got ", m.size(1), ", expected ",
                s.offset_groups * taps, " (offset_groups * kh * kw)");
    TORCH_CHECK(m.size(0) == s.batch && m.size(2) == s.out_h && m.size(3) == s.out_w,
                "deform_conv2d: mask shape is not valid: got ", sizes_str(m), ", expected (",
                s.batch, ", ", s.offset_groups * taps, ", ", s.out_h, ", ", s.out_w, ")");
  }
  if (bias.has_value()) {
    const at::Tensor& b = *bias;
    check_same_device_and_dtype(input, b, "bias");
    TORCH_CHECK(b.dim() == 1 && b.size(0) == s.out_channels,
                "deform_conv2d: bias shape is not valid: got ", sizes_str(b), ", expected (",
                s.out_channels, ")");
  }
  return s;
}

void check_grad_output(const at::Tensor& grad_output, const DeformConvShape& s,
                       const at::Tensor& input) {
  check_same_device_and_dtype(input, grad_output, "grad_output");
  TORCH_CHECK(grad_output.dim() == 4 && grad_output.size(0) == s.batch &&
                  grad_output.size(1) == s.out_channels && grad_output.size(2) == s.out_h &&
                  grad_output.size(3) == s.out_w,
              "deform_conv2d backward: grad_output shape is not valid: got ",
              sizes_str(grad_output), ", expected (", s.batch, ", ", s.out_channels, ", ",
              s.out_h, ", ", s.out_w, ")");
}

namespace {

// Under autocast the operator runs in the autocast dtype, as F.conv2d does: its kernels
// accumulate in float32 like cuDNN's and oneDNN's convolutions. The CPU kernel has no float16
// path (CPUs without bf16 units gain nothing from half precision), so CPU autocast to float16
// runs it in float32. The output keeps the dtype it was computed in, as F.conv2d's does.
template <c10::DispatchKey autocast_key, c10::DeviceType device_type>
at::Tensor deform_conv2d_autocast(const at::Tensor& input, const at::Tensor& weight,
                                  const at::Tensor& offset, const std::optional<at::Tensor>& mask,
                                  const std::optional<at::Tensor>& bias, int64_t stride_h,
                                  int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                  int64_t dilation_h, int64_t dilation_w) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  at::ScalarType dtype = at::autocast::get_autocast_dtype(device_type);
  if (device_type == c10::DeviceType::CPU && dtype != at::kBFloat16) dtype = at::kFloat;
  auto cast = [dtype](const at::Tensor& t) {
    return at::autocast::cached_cast(dtype, t, device_type);
  };
  std::optional<at::Tensor> mask_cast;
  std::optional<at::Tensor> bias_cast;
  if (mask.has_value()) mask_cast = cast(*mask);
  if (bias.has_value()) bias_cast = cast(*bias);
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("vsr::deform_conv2d", "")
                       .typed<decltype(deform_conv2d_autocast<autocast_key, device_type>)>();
  return op.call(cast(input), cast(weight), cast(offset), mask_cast, bias_cast, stride_h,
                 stride_w, pad_h, pad_w, dilation_h, dilation_w);
}

// Facts about this build for `python -m vsr.ops` and the stale-build check.
std::string build_info() {
  std::string info = "torch=" + std::string(TORCH_VERSION);
#ifdef VSR_WITH_CUDA
  info += ";cuda=1;cuda_archs=" + std::string(VSR_STRINGIZE(VSR_CUDA_ARCHS));
#else
  info += ";cuda=0;cuda_archs=";
#endif
  return info;
}

}  // namespace

}  // namespace vsr

TORCH_LIBRARY(vsr, m) {
  m.def(
      "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor? mask, Tensor? bias, "
      "int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w) "
      "-> Tensor");
  // Returns the gradients of input, weight, offset, mask and bias. The mask gradient has the
  // mask's shape even when no mask was given (it is then discarded), which keeps the schema
  // free of optional outputs.
  m.def(
      "_deform_conv2d_backward(Tensor grad_output, Tensor input, Tensor weight, Tensor offset, "
      "Tensor? mask, Tensor? bias, int stride_h, int stride_w, int pad_h, int pad_w, "
      "int dilation_h, int dilation_w) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("_build_info() -> str", &vsr::build_info);
}

TORCH_LIBRARY_IMPL(vsr, AutocastCPU, m) {
  m.impl("deform_conv2d",
         &vsr::deform_conv2d_autocast<c10::DispatchKey::AutocastCPU, c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(vsr, AutocastCUDA, m) {
  m.impl("deform_conv2d",
         &vsr::deform_conv2d_autocast<c10::DispatchKey::AutocastCUDA, c10::DeviceType::CUDA>);
}
