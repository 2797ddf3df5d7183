#include "layers/convolutional/conv_base.hpp"

#include <algorithm>

#include "layers/activation_dtype.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde::conv {

using spatial::Dims;

void ConvLayerBase::common_defaults() {
  config_default("trainable", "true");
  config_default("dtype", detail::kDefaultDTypePolicy);
  config_default("padding", "\"valid\"");
  config_default("data_format", "\"channels_last\"");
  config_default("activation", "\"linear\"");
  config_default("use_bias", "true");
  config_default("bias_initializer", detail::kZeros);
  config_default("bias_regularizer", "null");
  config_default("activity_regularizer", "null");
  config_default("bias_constraint", "null");
}

void ConvLayerBase::parse_common(Deserializer& ctx, bool allow_causal,
                                 bool forbid_stride_with_dilation) {
  const std::string where = describe();
  const JsonValue& c = config();
  if (cfg::find(c, "kernel_size") == nullptr) cfg::fail(where, "config has no 'kernel_size'");
  kernel_size_ = spatial::parse_tuple(c, "kernel_size", where, rank_, 1);
  strides_ = spatial::parse_tuple(c, "strides", where, rank_, 1);
  dilation_ = spatial::parse_tuple(c, "dilation_rate", where, rank_, 1);
  padding_ = spatial::parse_padding(c, where, allow_causal);
  channels_first_ = spatial::parse_channels_first(c, where);
  use_bias_ = cfg::get_bool(c, "use_bias", where, true);
  if (forbid_stride_with_dilation && *std::max_element(strides_.begin(), strides_.end()) > 1 &&
      *std::max_element(dilation_.begin(), dilation_.end()) > 1) {
    cfg::fail(where, "strides > 1 are not supported together with dilation_rate > 1");
  }
  activation_ = ctx.activation(cfg::find(c, "activation"), where);
  activation_row_wise_ =
      activation_.is_linear() ||
      (builtin_activation(activation_.name).has_value() && !activation_.halves_last_axis);
  // Write back what Keras's get_config would write for these values.
  spatial::write_tuple(object_dict(), "kernel_size", kernel_size_);
  spatial::write_tuple(object_dict(), "strides", strides_);
  spatial::write_tuple(object_dict(), "dilation_rate", dilation_);
  spatial::write_string(object_dict(), "padding", spatial::padding_name(padding_));
  spatial::write_string(object_dict(), "data_format",
                        channels_first_ ? "channels_first" : "channels_last");
}

std::int64_t ConvLayerBase::input_channels(const std::vector<Shape>& in) const {
  if (in.size() != 1) {
    throw ShapeError(describe() + ": expects one input of rank " + std::to_string(rank_ + 2));
  }
  return input_channels(in[0]);
}

std::int64_t ConvLayerBase::input_channels(const Shape& in) const {
  if (in.size() != rank_ + 2) {
    throw ShapeError(describe() + ": expects one input of rank " + std::to_string(rank_ + 2) +
                     ", got shape " + shape_to_string(in));
  }
  const std::int64_t ch = spatial::channels_of(in, channels_first_);
  if (ch < 0) {
    throw ShapeError(describe() + ": the channel dimension of the input must be known, got " +
                     shape_to_string(in));
  }
  return ch;
}

Tensor ConvLayerBase::channels_last_input(const TensorList& inputs) {
  expect_inputs(inputs, 1);
  const Tensor& x = inputs[0];
  const std::int64_t ch = input_channels(x.shape());
  if (!built()) build({detail::symbolic(x.shape())});  // Keras builds on first call
  const std::int64_t built_ch = input_channels(build_input_shapes().at(0));
  if (ch != built_ch) {
    throw ShapeError(describe() + ": input has " + std::to_string(ch) +
                     " channels, the layer was built for " + std::to_string(built_ch));
  }
  const Tensor xf = ops::as_float32(x);
  return channels_first_ ? spatial::to_channels_last(xf) : xf;
}

Geometry ConvLayerBase::forward_geometry(const Dims& in) const {
  Geometry g{in, {}, kernel_size_, strides_, dilation_, {}};
  for (std::size_t d = 0; d < rank_; ++d) {
    const std::int64_t k_eff = spatial::effective_size(kernel_size_[d], dilation_[d]);
    const std::int64_t out = spatial::output_length(in[d], k_eff, strides_[d], padding_);
    if (in[d] >= 0 && out <= 0) {
      throw ShapeError(describe() + ": input spatial size " + std::to_string(in[d]) +
                       " is too small for a window of " + std::to_string(k_eff) +
                       " with padding 'valid' (output size would be " + std::to_string(out) + ")");
    }
    g.out.push_back(out);
    g.pad.push_back(in[d] < 0 ? 0 : spatial::pad_before(in[d], k_eff, strides_[d], padding_));
  }
  return g;
}

Shape ConvLayerBase::forward_output_shape(const Shape& in, std::int64_t out_channels) const {
  input_channels(in);  // rank check
  const Geometry g = forward_geometry(spatial::spatial_of(in, channels_first_));
  return spatial::make_shape(in[0], g.out, out_channels, channels_first_);
}

Tensor ConvLayerBase::finish(Tensor y, const Tensor* bias) const {
  if (bias != nullptr) ops::add_bias_last_axis(y, *bias);
  if (channels_first_) y = spatial::to_channels_first(y);
  activation_.apply(y);  // on the output as Keras returns it (softmax: its last axis)
  return y;
}

bool ConvLayerBase::half_compute() const {
  return compute_dtype() == DType::Float16 || compute_dtype() == DType::BFloat16;
}

bool ConvLayerBase::float64_compute() const {
  return compute_dtype() == DType::Float64;
}

Tensor ConvLayerBase::conv_operand(const Tensor& t) const {
  return ops::rounded_to(t, compute_dtype());  // float32 copy unless the compute type is half
}

namespace {

// (N, S..., C) -> (N, C, S...) for any dtype.
Tensor channels_first_any(const Tensor& y) {
  const std::size_t rank = y.rank();
  detail::Axes perm{0, rank - 1};
  for (std::size_t d = 1; d + 1 < rank; ++d) perm.push_back(d);
  return detail::transpose(y, perm);
}

}  // namespace

Tensor ConvLayerBase::finish_in_compute_dtype(Tensor y, const Tensor* bias) const {
  const DType compute = compute_dtype();
  if (half_compute()) {
    ops::round_to(y, compute);
    if (bias != nullptr) {
      ops::add_bias_last_axis(y, ops::rounded_to(*bias, compute));
      ops::round_to(y, compute);
    }
    if (channels_first_) y = spatial::to_channels_first(y);
    detail::activate_half(activation_, y, compute);
    return y;
  }
  Tensor z = y.to(DType::Float64);
  if (bias != nullptr) {
    const Tensor b = bias->to(DType::Float64);
    const std::int64_t n = b.num_elements();
    if (z.rank() < 1 || z.shape().back() != n) {
      throw ShapeError(describe() + ": bias of shape " + shape_to_string(b.shape()) +
                       " does not match " + shape_to_string(z.shape()));
    }
    const double* pb = b.values<double>().data();
    auto pz = z.mutable_values<double>();
    for (std::size_t i = 0; i < pz.size(); ++i) pz[i] += pb[static_cast<std::int64_t>(i) % n];
  }
  if (channels_first_) z = channels_first_any(z);
  return detail::activate_float64(activation_, std::move(z));
}

}  // namespace kserde::conv
