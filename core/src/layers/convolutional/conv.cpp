// keras.layers.Conv1D / Conv2D / Conv3D: cross-correlation of the input with `filters` kernels,
// optionally in `groups` channel groups, plus bias, then the activation. Conv1D also takes
// padding="causal" (left padding dilation * (kernel_size - 1), no right padding).
// Variables: 0 kernel (*kernel_size, in_channels / groups, filters) whatever the data_format,
// 1 bias (filters,) when use_bias.
#include "layers/convolutional/conv_base.hpp"

namespace kserde {

namespace {

class Conv : public conv::ConvLayerBase {
 public:
  Conv(std::shared_ptr<JsonDocument> d, Deserializer& ctx, std::size_t rank)
      : ConvLayerBase(std::move(d), rank) {
    common_defaults();
    config_default("groups", "1");
    config_default("kernel_initializer", detail::kGlorotUniform);
    config_default("kernel_regularizer", "null");
    config_default("kernel_constraint", "null");
    parse_common(ctx, /*allow_causal=*/rank == 1, /*forbid_stride_with_dilation=*/true);
    const JsonValue& c = config();
    filters_ = cfg::get_int(c, "filters", describe());
    groups_ = cfg::get_int(c, "groups", describe(), 1);
    if (filters_ <= 0)
      cfg::fail(describe(), "filters must be positive, got " + std::to_string(filters_));
    if (groups_ <= 0)
      cfg::fail(describe(), "groups must be positive, got " + std::to_string(groups_));
    if (filters_ % groups_ != 0) {
      cfg::fail(describe(), "filters (" + std::to_string(filters_) +
                                ") must be divisible by groups (" + std::to_string(groups_) + ")");
    }
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    const Tensor x = channels_last_input(inputs);
    const conv::Geometry g = forward_geometry(spatial::spatial_of(x.shape(), false));
    if (half_compute() || float64_compute()) {
      Tensor y = conv::convolve(conv_operand(x), conv_operand(weight(0)), groups_, g);
      return {
          finish_in_compute_dtype(std::move(y), use_bias_ ? &variables().at(1).value : nullptr)};
    }
    if (!channels_first_ && activation_row_wise_) {
      // Bias and activation fused into the convolution's row blocks.
      const Tensor bias = use_bias_ ? ops::as_float32(weight(1)) : Tensor();
      const conv::Epilogue epilogue{use_bias_ ? bias.f32() : nullptr, activation_.fn};
      return {conv::convolve(x, ops::as_float32(weight(0)), groups_, g, epilogue)};
    }
    Tensor y = conv::convolve(x, ops::as_float32(weight(0)), groups_, g);
    return {finish(std::move(y), use_bias_ ? &weight(1) : nullptr)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    return {forward_output_shape(in.at(0), filters_)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    const std::int64_t ch = input_channels(in);
    if (ch % groups_ != 0) {
      throw ShapeError(describe() + ": input channels (" + std::to_string(ch) +
                       ") must be divisible by groups (" + std::to_string(groups_) + ")");
    }
    compute_output_shape(in);  // rejects inputs too small for the window
    Shape kernel(kernel_size_.begin(), kernel_size_.end());
    kernel.push_back(ch / groups_);
    kernel.push_back(filters_);
    add_weight("kernel", kernel);
    if (use_bias_) add_weight("bias", {filters_});
  }

 private:
  std::int64_t filters_ = 0;
  std::int64_t groups_ = 1;
};

class Conv1D final : public Conv {
 public:
  Conv1D(std::shared_ptr<JsonDocument> d, Deserializer& c) : Conv(std::move(d), c, 1) {}
};
class Conv2D final : public Conv {
 public:
  Conv2D(std::shared_ptr<JsonDocument> d, Deserializer& c) : Conv(std::move(d), c, 2) {}
};
class Conv3D final : public Conv {
 public:
  Conv3D(std::shared_ptr<JsonDocument> d, Deserializer& c) : Conv(std::move(d), c, 3) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(Conv1D);
KSERDE_REGISTER_LAYER(Conv2D);
KSERDE_REGISTER_LAYER(Conv3D);

}  // namespace kserde
