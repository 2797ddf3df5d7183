// Internal: what every convolution layer (Conv*, Conv*Transpose, DepthwiseConv*, SeparableConv*)
// shares — parsing of the window options, input checks, and the epilogue Keras applies after the
// convolution (bias on the channel axis, then the activation on the output in its data_format).
#pragma once

#include "layers/common.hpp"
#include "layers/convolutional/conv_kernels.hpp"
#include "layers/convolutional/spatial.hpp"

namespace kserde::conv {

class ConvLayerBase : public Layer {
 public:
  ConvLayerBase(std::shared_ptr<JsonDocument> d, std::size_t rank)
      : Layer(std::move(d)), rank_(rank) {}

 protected:
  // Defaults every convolution layer's get_config writes besides its own keys.
  void common_defaults();
  // Parses kernel_size, strides, dilation_rate, padding, data_format, use_bias, activation and
  // writes the standardized values back. `forbid_stride_with_dilation`: Conv and ConvTranspose
  // reject strides > 1 together with dilation_rate > 1 (depthwise/separable accept it).
  void parse_common(Deserializer& ctx, bool allow_causal, bool forbid_stride_with_dilation);

  // Build-time check: rank rank+2 with a known channel count; returns that count.
  std::int64_t input_channels(const std::vector<Shape>& in) const;
  std::int64_t input_channels(const Shape& in) const;
  // Call-time: one float32 input of the built rank and channel count, as channels_last (builds
  // the layer on first use, as Keras does).
  Tensor channels_last_input(const TensorList& inputs);
  // Forward geometry for input spatial dims `in` (ShapeError naming the layer when an output
  // length would be <= 0).
  Geometry forward_geometry(const spatial::Dims& in) const;
  // Forward output shape for `in` (the Keras compute_conv_output_shape rule).
  Shape forward_output_shape(const Shape& in, std::int64_t out_channels) const;
  // Adds the bias (if any), restores channels_first, applies the activation.
  Tensor finish(Tensor y, const Tensor* bias) const;

  // Non-float32 compute dtypes, as Keras's NumPy backend computes them: the convolution runs in
  // JAX (float16/bfloat16 operands give a float32 sum rounded once to the half type; float64
  // operands are computed in float32, as JAX without x64 does), then NumPy adds the bias and
  // applies the activation in the compute dtype.
  bool half_compute() const;
  bool float64_compute() const;
  // A convolution operand (input or kernel) as the convolution sees it: rounded to the half type
  // under float16/bfloat16, float32 otherwise.
  Tensor conv_operand(const Tensor& t) const;
  // finish() for half or float64 compute: `y` is the float32 convolution (channels_last), `bias`
  // the bias variable as stored (or null). Half: y, y + bias and the activation each rounded.
  // float64: y widened, the bias added in double, the activation in double when it is one of
  // the built-ins detail::has_float64_activation lists.
  Tensor finish_in_compute_dtype(Tensor y, const Tensor* bias) const;

  std::size_t rank_;
  spatial::Dims kernel_size_, strides_, dilation_;
  spatial::Padding padding_ = spatial::Padding::Valid;
  bool channels_first_ = false;
  bool use_bias_ = true;
  Activation activation_;
  // Linear or built-in: acts on elements or on the channel axis, so it can be applied to blocks of
  // output rows (a custom activation may need the whole tensor).
  bool activation_row_wise_ = true;
};

}  // namespace kserde::conv
