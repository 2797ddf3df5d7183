// keras.layers.AutoContrast: not random, so it transforms at inference too. With
// value_range (lo, hi), each image is mapped to [0, 255] ((x - lo) / (hi - lo) * 255, skipped when
// value_range is (0, 255)), stretched so that its minimum becomes 0 and its maximum 255
// (x * s + o with s = 255 / (max - min), o = -min * s; clipped to [0, 255]) and mapped back
// (x / 255 * (hi - lo) + lo). The minimum and maximum are taken over axes 1 and 2 of the batch
// (a rank-3 input is one image: its axes 0 and 1), so for channels_last per image and channel.
// NaN results (a constant channel divides by zero) take the input value back. Computed in float32
// as Keras does; output float32. No variables; no mask.
#include <algorithm>
#include <cmath>
#include <limits>

#include "layers/common.hpp"
#include "layers/preprocessing/image_util.hpp"

namespace kserde {

namespace {

class AutoContrast final : public Layer {
 public:
  AutoContrast(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("data_format", "\"channels_last\"");
    config_default("value_range", "[0, 255]");
    const JsonValue* r = cfg::find(config(), "value_range");
    if (r == nullptr || !r->IsArray() || r->Size() != 2 || !(*r)[0].IsNumber() ||
        !(*r)[1].IsNumber()) {
      cfg::fail(describe(), "value_range must be a list of two numbers");
    }
    lo_ = static_cast<float>((*r)[0].GetDouble());
    hi_ = static_cast<float>((*r)[1].GetDouble());
    channels_first_ = detail::parse_data_format(
        cfg::get_string(config(), "data_format", describe(), "channels_last"), describe());
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    ctx.output_masks.clear();
    const Shape& s = inputs[0].shape();
    detail::image_height_axis(s.size(), channels_first_, describe());
    const Tensor original = ops::as_float32(inputs[0]);
    // The input as [a, b, c, d] with the reduction over b and c.
    const bool batched = s.size() == 4;
    const std::int64_t a = batched ? s[0] : 1;
    const std::int64_t b = batched ? s[1] : s[0];
    const std::int64_t c = batched ? s[2] : s[1];
    const std::int64_t d = batched ? s[3] : s[2];
    const bool rescale = !(lo_ == 0.0f && hi_ == 255.0f);
    Tensor y = Tensor::uninitialized(s, DType::Float32);
    const float* px = original.f32();
    float* py = y.f32_mut();
    const std::int64_t n = a * b * c * d;
    for (std::int64_t i = 0; i < n; ++i) {
      py[i] = rescale ? (px[i] - lo_) / (hi_ - lo_) * 255.0f + 0.0f : px[i];
    }
    for (std::int64_t ia = 0; ia < a; ++ia) {
      for (std::int64_t id = 0; id < d; ++id) {
        float low = std::numeric_limits<float>::infinity();
        float high = -low;
        bool nan = false;
        for (std::int64_t k = 0; k < b * c; ++k) {
          const float v = py[(ia * b * c + k) * d + id];
          if (std::isnan(v)) nan = true;
          low = std::min(low, v);
          high = std::max(high, v);
        }
        if (nan) low = high = std::numeric_limits<float>::quiet_NaN();  // np.min/max propagate NaN
        const float scale = 255.0f / (high - low);
        const float offset = -low * scale;
        for (std::int64_t k = 0; k < b * c; ++k) {
          const std::int64_t idx = (ia * b * c + k) * d + id;
          float r = py[idx] * scale + offset;
          if (!std::isnan(r)) r = std::clamp(r, 0.0f, 255.0f);
          if (rescale) r = (r - 0.0f) / 255.0f * (hi_ - lo_) + lo_;
          py[idx] = std::isnan(r) ? px[idx] : r;
        }
      }
    }
    return {y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    detail::image_height_axis(in.at(0).size(), channels_first_, describe());
    return {in[0]};
  }

 private:
  float lo_ = 0.0f;
  float hi_ = 255.0f;
  bool channels_first_ = false;
};

}  // namespace

KSERDE_REGISTER_LAYER(AutoContrast);

}  // namespace kserde
