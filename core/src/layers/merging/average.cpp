// keras.layers.Average: (x0 + x1 + ... + xn-1) / n, summed left to right as Keras does.
// No variables.
#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Average final : public detail::Merge {
 public:
  Average(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {}

 protected:
  DoubleOp float64_op() const override {
    return [](double a, double b) { return a + b; };
  }
  bool divides_by_count() const override { return true; }
  Tensor merge(const TensorList& xs, const MaskList&) const override {
    Tensor out = xs[0].clone();
    for (std::size_t i = 1; i < xs.size(); ++i) {
      out = detail::broadcast_binary(
          out, xs[i], [](float a, float b) { return a + b; }, describe());
    }
    ops::scale(out, 1.0f / static_cast<float>(xs.size()));
    return out;
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Average);

}  // namespace kserde
