// keras.layers.Conv1DTranspose / Conv2DTranspose / Conv3DTranspose: the transposed ("deconv")
// convolution, plus bias, then the activation. Input element i and kernel tap j contribute to
// output position i * stride + j * dilation - crop. Per dimension, with k_eff the dilated kernel
// extent (Keras's rule, backend_utils._get_output_shape_given_tf_padding and the JAX padding it
// converts to):
//   valid: out = (in - 1) * s + k_eff + output_padding (output_padding defaults to
//          max(k_eff, s) - k_eff); crop = 0.
//   same:  out = in * s without output_padding, else (in - 1) * s + k_eff % 2 + output_padding;
//          total padding p = s + k_eff - 2 (resp. k_eff + k_eff % 2 - 2 + output_padding),
//          left = min(ceil(p / 2), k_eff - 1), crop = k_eff - 1 - left.
// Variables: 0 kernel (*kernel_size, filters, in_channels), 1 bias (filters,) when use_bias.
#include <algorithm>

#include "layers/convolutional/conv_base.hpp"

namespace kserde {

namespace {

class ConvTranspose : public conv::ConvLayerBase {
 public:
  ConvTranspose(std::shared_ptr<JsonDocument> d, Deserializer& ctx, std::size_t rank)
      : ConvLayerBase(std::move(d), rank) {
    common_defaults();
    config_default("output_padding", "null");
    config_default("kernel_initializer", detail::kGlorotUniform);
    config_default("kernel_regularizer", "null");
    config_default("kernel_constraint", "null");
    parse_common(ctx, /*allow_causal=*/false, /*forbid_stride_with_dilation=*/true);
    const JsonValue& c = config();
    filters_ = cfg::get_int(c, "filters", describe());
    if (filters_ <= 0)
      cfg::fail(describe(), "filters must be positive, got " + std::to_string(filters_));
    if (cfg::has_non_null(c, "output_padding")) {
      output_padding_ = spatial::parse_tuple(c, "output_padding", describe(), rank_, 0, true);
      for (std::size_t i = 0; i < rank_; ++i) {
        if (output_padding_[i] >= strides_[i]) {
          cfg::fail(describe(),
                    "output_padding must be smaller than strides in every dimension, "
                    "got " +
                        std::to_string(output_padding_[i]) + " >= " + std::to_string(strides_[i]));
        }
      }
      spatial::write_tuple(object_dict(), "output_padding", output_padding_);
    }
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    const Tensor x = channels_last_input(inputs);
    const conv::Geometry g = geometry(spatial::spatial_of(x.shape(), false));
    if (half_compute() || float64_compute()) {
      Tensor y = conv::transpose(conv_operand(x), conv_operand(weight(0)), g);
      return {
          finish_in_compute_dtype(std::move(y), use_bias_ ? &variables().at(1).value : nullptr)};
    }
    Tensor y = conv::transpose(x, ops::as_float32(weight(0)), g);
    return {finish(std::move(y), use_bias_ ? &weight(1) : nullptr)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    input_channels(in);
    const conv::Geometry g = geometry(spatial::spatial_of(in[0], channels_first_));
    return {spatial::make_shape(in[0][0], g.out, filters_, channels_first_)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    const std::int64_t ch = input_channels(in);
    Shape kernel(kernel_size_.begin(), kernel_size_.end());
    kernel.push_back(filters_);
    kernel.push_back(ch);
    add_weight("kernel", kernel);
    if (use_bias_) add_weight("bias", {filters_});
  }

 private:
  conv::Geometry geometry(const spatial::Dims& in) const {
    conv::Geometry g{in, {}, kernel_size_, strides_, dilation_, {}};
    for (std::size_t d = 0; d < rank_; ++d) {
      const std::int64_t s = strides_[d];
      const std::int64_t k_eff = spatial::effective_size(kernel_size_[d], dilation_[d]);
      const bool has_op = !output_padding_.empty();
      const std::int64_t op = has_op ? output_padding_[d] : 0;
      std::int64_t left = 0;  // padding before the stride-dilated input, as JAX applies it
      std::int64_t right = 0;
      if (padding_ == spatial::Padding::Valid) {
        left = k_eff - 1;
        right = k_eff - 1 + (has_op ? op : std::max(k_eff, s) - k_eff);
      } else {
        const std::int64_t total = has_op ? k_eff + k_eff % 2 - 2 + op : s + k_eff - 2;
        left = std::min(total / 2 + total % 2, k_eff - 1);
        right = total - left;
      }
      // A full correlation over the padded, stride-dilated input of length (in - 1) * s + 1.
      g.out.push_back(in[d] < 0 ? -1 : (in[d] - 1) * s + 1 + left + right - (k_eff - 1));
      g.pad.push_back(k_eff - 1 - left);
    }
    return g;
  }

  std::int64_t filters_ = 0;
  spatial::Dims output_padding_;  // empty = None
};

class Conv1DTranspose final : public ConvTranspose {
 public:
  Conv1DTranspose(std::shared_ptr<JsonDocument> d, Deserializer& c)
      : ConvTranspose(std::move(d), c, 1) {}
};
class Conv2DTranspose final : public ConvTranspose {
 public:
  Conv2DTranspose(std::shared_ptr<JsonDocument> d, Deserializer& c)
      : ConvTranspose(std::move(d), c, 2) {}
};
class Conv3DTranspose final : public ConvTranspose {
 public:
  Conv3DTranspose(std::shared_ptr<JsonDocument> d, Deserializer& c)
      : ConvTranspose(std::move(d), c, 3) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(Conv1DTranspose);
KSERDE_REGISTER_LAYER(Conv2DTranspose);
KSERDE_REGISTER_LAYER(Conv3DTranspose);

}  // namespace kserde
