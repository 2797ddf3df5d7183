// keras.layers.Identity: returns its inputs unchanged (any number of tensors). No variables.
// Masks pass through.
#include "layers/common.hpp"

namespace kserde {

namespace {

class Identity final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  Identity(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
  }

  TensorList call(const TensorList& inputs, CallContext&) override { return inputs; }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    return in;
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Identity);

}  // namespace kserde
