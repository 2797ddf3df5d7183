// keras.layers.ELU: y = x for x > 0, alpha * (exp(x) - 1) otherwise. Keras's ELU has no
// get_config of its own, so "alpha" is never written (and a loaded ELU uses alpha = 1.0 unless
// the file carries the key, as Keras 2 files do). No variables. The input mask passes through.
#include <cmath>

#include "layers/common.hpp"

namespace kserde {

namespace {

class ELU final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  ELU(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    alpha_ = cfg::get_float(config(), "alpha", describe(), 1.0);
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (inputs[0].dtype() == DType::Float64) {  // a float64 policy: Keras computes in double
      Tensor y = inputs[0].clone();
      for (double& v : y.mutable_values<double>()) v = v > 0.0 ? v : alpha_ * std::expm1(v);
      return {y};
    }
    Tensor y = ops::as_float32(inputs[0]).clone();
    const auto a = static_cast<float>(alpha_);
    for (float& v : y.mutable_values<float>()) v = v > 0.0f ? v : a * std::expm1(v);
    return {y};
  }

 private:
  double alpha_ = 1.0;
};

}  // namespace

KSERDE_REGISTER_LAYER(ELU);

}  // namespace kserde
