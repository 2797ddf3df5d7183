// keras.layers.Add: elementwise sum of the inputs (with merge broadcasting). No variables.
#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Add final : public detail::Merge {
 public:
  Add(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {}

 protected:
  DoubleOp float64_op() const override {
    return [](double a, double b) { return a + b; };
  }
  Tensor merge(const TensorList& xs, const MaskList&) const override {
    Tensor out = xs[0];
    for (std::size_t i = 1; i < xs.size(); ++i) {
      out = detail::broadcast_binary(
          out, xs[i], [](float a, float b) { return a + b; }, describe());
    }
    return xs.size() == 1 ? out.clone() : out;
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Add);

}  // namespace kserde
