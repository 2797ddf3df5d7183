// keras.layers.Multiply: elementwise product of the inputs. With masks, masked-out entries count
// as 1; when every input is masked, positions masked in all inputs become 0. No variables.
#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

template <class T>
Tensor scalar(T v) {
  Tensor t({}, dtype_of<T>());
  t.mutable_values<T>()[0] = v;
  return t;
}

// The product over T (float or double) values.
template <class T>
Tensor masked_product(const TensorList& xs, const MaskList& masks, const std::string& where) {
  bool all_masked = true;
  for (const auto& m : masks) all_masked = all_masked && m.has_value();
  const Tensor one = scalar<T>(1);
  const auto mul = [](T a, T b) { return a * b; };
  const auto any = [](float a, float b) { return (a != 0.0f || b != 0.0f) ? 1.0f : 0.0f; };
  std::optional<Tensor> out;
  std::optional<Tensor> out_mask;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    Tensor x = xs[i];
    if (masks[i]) {
      x = detail::select(*masks[i], x, one, where);
      if (all_masked) {
        const Tensor m = masks[i]->to(DType::Float32);
        out_mask = out_mask ? detail::broadcast_binary(*out_mask, m, any, where) : m;
      }
    }
    out = out ? detail::broadcast_binary<T>(*out, x, mul, where) : x;
  }
  if (all_masked) return detail::select(*out_mask, *out, scalar<T>(0), where);
  return out->clone();
}

class Multiply final : public detail::Merge {
 public:
  Multiply(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {}

 protected:
  DoubleOp float64_op() const override {
    return [](double a, double b) { return a * b; };
  }
  Tensor merge(const TensorList& xs, const MaskList& masks) const override {
    return masked_product<float>(xs, masks, describe());
  }
  Tensor merge_float64(const TensorList& xs, const MaskList& masks) const override {
    return masked_product<double>(xs, masks, describe());
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Multiply);

}  // namespace kserde
