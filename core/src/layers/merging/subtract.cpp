// keras.layers.Subtract: inputs[0] - inputs[1] (exactly two inputs, merge broadcasting).
// No variables.
#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Subtract final : public detail::Merge {
 public:
  Subtract(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {}

 protected:
  DoubleOp float64_op() const override {
    return [](double a, double b) { return a - b; };
  }
  std::size_t exact_inputs() const override { return 2; }
  Tensor merge(const TensorList& xs, const MaskList&) const override {
    return detail::broadcast_binary(
        xs[0], xs[1], [](float a, float b) { return a - b; }, describe());
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Subtract);

}  // namespace kserde
