// keras.layers.DepthwiseConv1D / DepthwiseConv2D: each input channel c is cross-correlated with
// its own depth_multiplier kernels; output channel c * depth_multiplier + m. Plus bias, then the
// activation.
// Variables: 0 kernel (*kernel_size, in_channels, depth_multiplier), 1 bias
// (in_channels * depth_multiplier,) when use_bias.
#include "layers/convolutional/conv_base.hpp"

namespace kserde {

namespace {

class DepthwiseConv : public conv::ConvLayerBase {
 public:
  DepthwiseConv(std::shared_ptr<JsonDocument> d, Deserializer& ctx, std::size_t rank)
      : ConvLayerBase(std::move(d), rank) {
    common_defaults();
    config_default("depth_multiplier", "1");
    config_default("depthwise_initializer", detail::kGlorotUniform);
    config_default("depthwise_regularizer", "null");
    config_default("depthwise_constraint", "null");
    parse_common(ctx, /*allow_causal=*/false, /*forbid_stride_with_dilation=*/false);
    depth_multiplier_ = cfg::get_int(config(), "depth_multiplier", describe(), 1);
    if (depth_multiplier_ <= 0) {
      cfg::fail(describe(),
                "depth_multiplier must be positive, got " + std::to_string(depth_multiplier_));
    }
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    const Tensor x = channels_last_input(inputs);
    const conv::Geometry g = forward_geometry(spatial::spatial_of(x.shape(), false));
    if (half_compute() || float64_compute()) {
      Tensor y = conv::depthwise(conv_operand(x), conv_operand(weight(0)), g);
      return {
          finish_in_compute_dtype(std::move(y), use_bias_ ? &variables().at(1).value : nullptr)};
    }
    Tensor y = conv::depthwise(x, ops::as_float32(weight(0)), g);
    return {finish(std::move(y), use_bias_ ? &weight(1) : nullptr)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    const std::int64_t ch = input_channels(in);
    return {forward_output_shape(in[0], ch * depth_multiplier_)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    const std::int64_t ch = input_channels(in);
    compute_output_shape(in);  // rejects inputs too small for the window
    Shape kernel(kernel_size_.begin(), kernel_size_.end());
    kernel.push_back(ch);
    kernel.push_back(depth_multiplier_);
    add_weight("kernel", kernel);
    if (use_bias_) add_weight("bias", {ch * depth_multiplier_});
  }

 private:
  std::int64_t depth_multiplier_ = 1;
};

class DepthwiseConv1D final : public DepthwiseConv {
 public:
  DepthwiseConv1D(std::shared_ptr<JsonDocument> d, Deserializer& c)
      : DepthwiseConv(std::move(d), c, 1) {}
};
class DepthwiseConv2D final : public DepthwiseConv {
 public:
  DepthwiseConv2D(std::shared_ptr<JsonDocument> d, Deserializer& c)
      : DepthwiseConv(std::move(d), c, 2) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(DepthwiseConv1D);
KSERDE_REGISTER_LAYER(DepthwiseConv2D);

}  // namespace kserde
