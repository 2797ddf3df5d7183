// keras.layers.Activation: applies an activation function; no variables.
#include "layers/activation_dtype.hpp"
#include "layers/common.hpp"

namespace kserde {

namespace {

class ActivationLayer final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  ActivationLayer(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    activation_ = ctx.activation(cfg::find(config(), "activation"), describe());
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const DType compute = compute_dtype();
    if (compute == DType::Float64 && inputs[0].dtype() == DType::Float64) {
      return {detail::activate_float64(activation_, inputs[0].clone())};
    }
    Tensor y = ops::as_float32(inputs[0]).clone();
    if (compute == DType::Float16 || compute == DType::BFloat16) {
      detail::activate_half(activation_, y, compute);  // each NumPy operation rounded
      return {y};
    }
    activation_.apply(y);
    return {y};
  }

 private:
  ::kserde::Activation activation_;
};

}  // namespace

KSERDE_REGISTER_LAYER_AS(ActivationLayer, "Activation");

}  // namespace kserde
