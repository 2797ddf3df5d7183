// keras.layers.Dropout: identity at inference. Random-seed state is not saved by Keras.
#include "layers/common.hpp"

namespace kserde {

namespace {

class Dropout final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  Dropout(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("noise_shape", "null");
    config_default("seed", "null");
    const double rate = cfg::get_float(config(), "rate", describe());
    if (!(rate >= 0.0 && rate <= 1.0)) cfg::fail(describe(), "rate must lie in [0, 1]");
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    return inputs;
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Dropout);

}  // namespace kserde
