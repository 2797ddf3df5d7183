// keras.layers.SeparableConv1D / SeparableConv2D: a depthwise convolution (strides, padding and
// dilation apply here) followed by a 1x1 pointwise convolution mixing the in * depth_multiplier
// channels into `filters`, plus bias, then the activation.
// Variables: 0 depthwise_kernel (*kernel_size, in_channels, depth_multiplier),
// 1 pointwise_kernel (1, ..., 1, in_channels * depth_multiplier, filters), 2 bias (filters,) when
// use_bias.
#include "layers/convolutional/conv_base.hpp"

namespace kserde {

namespace {

class SeparableConv : public conv::ConvLayerBase {
 public:
  SeparableConv(std::shared_ptr<JsonDocument> d, Deserializer& ctx, std::size_t rank)
      : ConvLayerBase(std::move(d), rank) {
    common_defaults();
    config_default("depth_multiplier", "1");
    config_default("depthwise_initializer", detail::kGlorotUniform);
    config_default("pointwise_initializer", detail::kGlorotUniform);
    config_default("depthwise_regularizer", "null");
    config_default("pointwise_regularizer", "null");
    config_default("depthwise_constraint", "null");
    config_default("pointwise_constraint", "null");
    parse_common(ctx, /*allow_causal=*/false, /*forbid_stride_with_dilation=*/false);
    const JsonValue& c = config();
    depth_multiplier_ = cfg::get_int(c, "depth_multiplier", describe(), 1);
    filters_ = cfg::get_int(c, "filters", describe());
    if (depth_multiplier_ <= 0) {
      cfg::fail(describe(),
                "depth_multiplier must be positive, got " + std::to_string(depth_multiplier_));
    }
    if (filters_ <= 0)
      cfg::fail(describe(), "filters must be positive, got " + std::to_string(filters_));
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    const Tensor x = channels_last_input(inputs);
    const conv::Geometry g = forward_geometry(spatial::spatial_of(x.shape(), false));
    const std::int64_t mid = weight(1).dim(rank_);
    if (half_compute() || float64_compute()) {
      // Two JAX convolutions: the depthwise result is returned (rounded) before the pointwise one.
      Tensor dw = conv::depthwise(conv_operand(x), conv_operand(weight(0)), g);
      ops::round_to(dw, compute_dtype());
      Tensor y = ops::matmul_last_axis(dw, conv_operand(weight(1)).reshaped({mid, filters_}));
      return {
          finish_in_compute_dtype(std::move(y), use_bias_ ? &variables().at(2).value : nullptr)};
    }
    const Tensor dw = conv::depthwise(x, ops::as_float32(weight(0)), g);
    Tensor y = ops::matmul_last_axis(dw, weight(1).reshaped({mid, filters_}));
    return {finish(std::move(y), use_bias_ ? &weight(2) : nullptr)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    return {forward_output_shape(in.at(0), filters_)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    const std::int64_t ch = input_channels(in);
    compute_output_shape(in);  // rejects inputs too small for the window
    Shape depthwise(kernel_size_.begin(), kernel_size_.end());
    depthwise.push_back(ch);
    depthwise.push_back(depth_multiplier_);
    Shape pointwise(rank_, 1);
    pointwise.push_back(ch * depth_multiplier_);
    pointwise.push_back(filters_);
    add_weight("depthwise_kernel", depthwise);
    add_weight("pointwise_kernel", pointwise);
    if (use_bias_) add_weight("bias", {filters_});
  }

 private:
  std::int64_t depth_multiplier_ = 1;
  std::int64_t filters_ = 0;
};

class SeparableConv1D final : public SeparableConv {
 public:
  SeparableConv1D(std::shared_ptr<JsonDocument> d, Deserializer& c)
      : SeparableConv(std::move(d), c, 1) {}
};
class SeparableConv2D final : public SeparableConv {
 public:
  SeparableConv2D(std::shared_ptr<JsonDocument> d, Deserializer& c)
      : SeparableConv(std::move(d), c, 2) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(SeparableConv1D);
KSERDE_REGISTER_LAYER(SeparableConv2D);

}  // namespace kserde
