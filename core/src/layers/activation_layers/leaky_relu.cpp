// keras.layers.LeakyReLU: y = max(x, negative_slope * x) (x for x >= 0, negative_slope * x
// otherwise, when the slope is at most 1). The legacy key "alpha"
// (Keras 2 files) is read as negative_slope. No variables. The input mask passes through.
#include <algorithm>

#include "layers/common.hpp"

namespace kserde {

namespace {

class LeakyReLU final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  LeakyReLU(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    const JsonValue& c = config();
    if (cfg::has_non_null(c, "alpha")) {
      slope_ = cfg::get_float(c, "alpha", describe());
    } else {
      slope_ = cfg::get_float(c, "negative_slope", describe(), 0.3);
    }
    if (slope_ < 0.0) cfg::fail(describe(), "negative_slope cannot be negative");
    if (cfg::find(c, "alpha") == nullptr) config_default("negative_slope", "0.3");
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (inputs[0].dtype() == DType::Float64) {  // a float64 policy: Keras computes in double
      Tensor y = inputs[0].clone();
      for (double& v : y.mutable_values<double>()) v = std::max(v, slope_ * v);
      return {y};
    }
    Tensor y = ops::as_float32(inputs[0]).clone();
    const auto s = static_cast<float>(slope_);
    // np.maximum(x, slope * x), as Keras computes it (this also covers slopes above 1).
    for (float& v : y.mutable_values<float>()) v = std::max(v, s * v);
    return {y};
  }

 private:
  double slope_ = 0.3;
};

}  // namespace

KSERDE_REGISTER_LAYER(LeakyReLU);

}  // namespace kserde
