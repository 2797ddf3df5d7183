// keras.layers.ReLU: y = x for x > threshold (clipped to max_value when set), else
// negative_slope * (x - threshold). With threshold 0 and no max_value this is Keras's leaky
// ReLU, max(x, negative_slope * x).
// No variables. The input mask passes through.
#include <algorithm>
#include <optional>

#include "layers/common.hpp"

namespace kserde {

namespace {

class ReLU final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  ReLU(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("max_value", "null");
    config_default("negative_slope", "0.0");
    config_default("threshold", "0.0");
    const JsonValue& c = config();
    max_value_ = cfg::get_optional_float(c, "max_value", describe());
    if (max_value_ && *max_value_ < 0.0) cfg::fail(describe(), "max_value cannot be negative");
    const JsonValue* ns = cfg::find(c, "negative_slope");
    const JsonValue* th = cfg::find(c, "threshold");
    if (ns == nullptr || ns->IsNull()) cfg::fail(describe(), "negative_slope cannot be None");
    if (th == nullptr || th->IsNull()) cfg::fail(describe(), "threshold cannot be None");
    slope_ = cfg::get_float(c, "negative_slope", describe());
    threshold_ = cfg::get_float(c, "threshold", describe());
    if (slope_ < 0.0) cfg::fail(describe(), "negative_slope cannot be negative");
    if (threshold_ < 0.0) cfg::fail(describe(), "threshold cannot be negative");
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    Tensor y = ops::as_float32(inputs[0]).clone();
    const auto slope = static_cast<float>(slope_);
    const auto thr = static_cast<float>(threshold_);
    const bool clip = max_value_.has_value();
    const float hi = clip ? static_cast<float>(*max_value_) : 0.0f;
    if (slope != 0.0f && !clip && thr == 0.0f) {  // Keras's leaky_relu shortcut
      for (float& v : y.mutable_values<float>()) v = std::max(v, slope * v);
      return {y};
    }
    for (float& v : y.mutable_values<float>()) {
      float pos = v > thr ? v : 0.0f;
      if (clip) pos = pos < 0.0f ? 0.0f : (pos > hi ? hi : pos);
      const float neg = thr - v > 0.0f ? thr - v : 0.0f;
      v = slope != 0.0f ? pos - slope * neg : pos;
    }
    return {y};
  }

 private:
  std::optional<double> max_value_;
  double slope_ = 0.0;
  double threshold_ = 0.0;
};

}  // namespace

KSERDE_REGISTER_LAYER(ReLU);

}  // namespace kserde
