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
    if (inputs[0].dtype() == DType::Float64) {  // a float64 policy: Keras computes in double
      Tensor y = inputs[0].clone();
      apply<double>(y);
      return {y};
    }
    Tensor y = ops::as_float32(inputs[0]).clone();
    apply<float>(y);
    return {y};
  }

  template <class T>
  void apply(Tensor& y) const {
    const auto slope = static_cast<T>(slope_);
    const auto thr = static_cast<T>(threshold_);
    const bool clip = max_value_.has_value();
    const T hi = clip ? static_cast<T>(*max_value_) : T(0);
    if (slope != T(0) && !clip && thr == T(0)) {  // Keras's leaky_relu shortcut
      for (T& v : y.mutable_values<T>()) v = std::max(v, slope * v);
      return;
    }
    for (T& v : y.mutable_values<T>()) {
      T pos = v > thr ? v : T(0);
      if (clip) pos = pos < T(0) ? T(0) : (pos > hi ? hi : pos);
      const T neg = thr - v > T(0) ? thr - v : T(0);
      v = slope != T(0) ? pos - slope * neg : pos;
    }
  }

 private:
  std::optional<double> max_value_;
  double slope_ = 0.0;
  double threshold_ = 0.0;
};

}  // namespace

KSERDE_REGISTER_LAYER(ReLU);

}  // namespace kserde
