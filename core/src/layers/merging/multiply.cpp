// keras.layers.Multiply: elementwise product of the inputs. With masks, masked-out entries count
// as 1; when every input is masked, positions masked in all inputs become 0. No variables.
#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Multiply final : public detail::Merge {
 public:
  Multiply(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {}

 protected:
  DoubleOp float64_op() const override {
    return [](double a, double b) { return a * b; };
  }
  Tensor merge(const TensorList& xs, const MaskList& masks) const override {
    bool all_masked = true;
    for (const auto& m : masks) all_masked = all_masked && m.has_value();
    static constexpr float kOne = 1.0f;
    const Tensor one = Tensor::from_floats({}, std::span<const float>(&kOne, 1));
    const auto mul = [](float a, float b) { return a * b; };
    const auto any = [](float a, float b) { return (a != 0.0f || b != 0.0f) ? 1.0f : 0.0f; };
    std::optional<Tensor> out;
    std::optional<Tensor> out_mask;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      Tensor x = xs[i];
      if (masks[i]) {
        x = detail::select(*masks[i], x, one, describe());
        if (all_masked) {
          const Tensor m = masks[i]->to(DType::Float32);
          out_mask = out_mask ? detail::broadcast_binary(*out_mask, m, any, describe()) : m;
        }
      }
      out = out ? detail::broadcast_binary(*out, x, mul, describe()) : x;
    }
    if (all_masked) {
      const Tensor zero = Tensor::from_floats({}, std::vector<float>{0.0f});
      return detail::select(*out_mask, *out, zero, describe());
    }
    return out->clone();
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Multiply);

}  // namespace kserde
