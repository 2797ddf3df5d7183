// keras.layers.PReLU: y = x for x > 0, alpha * x otherwise, with a learned alpha per position.
// Variable: alpha of shape input_shape[1:] where each axis in shared_axes (1-based, batch is 0)
// has size 1 (alpha is shared along it). The input mask passes through.
#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class PReLU final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  PReLU(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("alpha_initializer", detail::kZeros);
    config_default("alpha_regularizer", "null");
    config_default("alpha_constraint", "null");
    config_default("shared_axes", "null");
    if (cfg::has_non_null(config(), "shared_axes")) {
      shared_axes_ = cfg::get_int_tuple(config(), "shared_axes", describe(), 0);
      for (std::int64_t a : shared_axes_) {
        if (a < 1) cfg::fail(describe(), "shared_axes entries must be >= 1 (axis 0 is the batch)");
      }
    }
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    const Tensor x = ops::as_float32(inputs[0]);
    const Tensor& alpha = weight(0);
    if (x.rank() != alpha.rank() + 1) {
      throw ShapeError(describe() + ": expected an input of rank " +
                       std::to_string(alpha.rank() + 1) + ", got " + shape_to_string(x.shape()));
    }
    if (inputs[0].dtype() == DType::Float64) {  // a float64 policy: Keras computes in double
      return {detail::broadcast_binary<double>(
          inputs[0], variables().at(0).value.to(DType::Float64),
          [](double v, double a) { return v > 0.0 ? v : a * v; }, describe())};
    }
    return {detail::broadcast_binary(
        x, ops::as_float32(alpha), [](float v, float a) { return v > 0.0f ? v : a * v; },
        describe())};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1 || in[0].size() < 2) {
      throw ShapeError(describe() + ": needs one input of rank >= 2");
    }
    Shape param(in[0].begin() + 1, in[0].end());
    for (std::int64_t a : shared_axes_) {
      if (static_cast<std::size_t>(a) > param.size()) {
        throw ShapeError(describe() + ": shared axis " + std::to_string(a) +
                         " is out of range for input shape " + shape_to_string(in[0]));
      }
      param[static_cast<std::size_t>(a - 1)] = 1;
    }
    add_weight("alpha", param, true);
  }

 private:
  std::vector<std::int64_t> shared_axes_;
};

}  // namespace

KSERDE_REGISTER_LAYER(PReLU);

}  // namespace kserde
