// keras.layers.Dense: y = activation(x @ kernel + bias) over the last axis.
// Variables: 0 kernel (input_dim, units), 1 bias (units,) when use_bias.
#include "layers/activation_dtype.hpp"
#include "layers/common.hpp"

namespace kserde {

namespace {

class Dense final : public Layer {
 public:
  Dense(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("activation", "\"linear\"");
    config_default("use_bias", "true");
    config_default("kernel_initializer", detail::kGlorotUniform);
    config_default("bias_initializer", detail::kZeros);
    config_default("kernel_regularizer", "null");
    config_default("bias_regularizer", "null");
    config_default("kernel_constraint", "null");
    config_default("bias_constraint", "null");
    config_default("quantization_config", "null");
    const JsonValue& c = config();
    units_ = cfg::get_int(c, "units", describe());
    if (units_ <= 0) cfg::fail(describe(), "units must be positive, got " + std::to_string(units_));
    use_bias_ = cfg::get_bool(c, "use_bias", describe(), true);
    activation_ = ctx.activation(cfg::find(c, "activation"), describe());
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const DType compute = compute_dtype();
    if (compute == DType::Float16 || compute == DType::BFloat16) {
      // Keras (NumPy) computes each op in half precision: the kernel and bias are cast to it,
      // the product (summed in float32) is rounded, then the sum with the bias, then each
      // operation of the activation.
      Tensor y = ops::matmul_last_axis(ops::rounded_to(inputs[0], compute),
                                       ops::rounded_to(weight(0), compute));
      ops::round_to(y, compute);
      if (use_bias_) {
        ops::add_bias_last_axis(y, ops::rounded_to(weight(1), compute));
        ops::round_to(y, compute);
      }
      detail::activate_half(activation_, y, compute);
      return {y};
    }
    if (compute == DType::Float64) return {call_float64(inputs[0])};
    Tensor y = ops::matmul_last_axis(inputs[0], weight(0));
    if (use_bias_) ops::add_bias_last_axis(y, weight(1));
    activation_.apply(y);
    return {y};
  }

  bool supports_masking() const override { return true; }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    Shape s = in.at(0);
    s.back() = units_;
    return {s};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1 || in[0].size() < 2 || in[0].back() < 0) {
      throw ShapeError(describe() + ": needs one input of rank >= 2 with a known last dimension");
    }
    add_weight("kernel", {in[0].back(), units_});
    if (use_bias_) add_weight("bias", {units_});
  }

 private:
  // float64 policy: the product, the bias and the built-in activations in double, as Keras's
  // NumPy backend computes them (other activations run in float32 on the double result).
  Tensor call_float64(const Tensor& x_in) const {
    const Tensor x = x_in.to(DType::Float64);
    const Tensor w = variables().at(0).value.to(DType::Float64);
    const std::int64_t k = w.dim(0);
    const std::int64_t n = w.dim(1);
    if (x.rank() < 1 || x.shape().back() != k) {
      throw ShapeError(describe() + ": input " + shape_to_string(x.shape()) +
                       " does not match kernel " + shape_to_string(w.shape()));
    }
    const std::int64_t rows = k == 0 ? 0 : x.num_elements() / k;
    Shape out_shape = x.shape();
    out_shape.back() = n;
    Tensor y = Tensor::uninitialized(out_shape, DType::Float64);  // every element written
    const double* px = x.values<double>().data();
    const double* pw = w.values<double>().data();
    double* py = y.mutable_values<double>().data();
    const Tensor b = use_bias_ ? variables().at(1).value.to(DType::Float64) : Tensor();
    const double* pb = use_bias_ ? b.values<double>().data() : nullptr;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (std::int64_t i = 0; i < k; ++i) acc += px[r * k + i] * pw[i * n + j];
        py[r * n + j] = pb != nullptr ? acc + pb[j] : acc;
      }
    }
    return detail::activate_float64(activation_, std::move(y));
  }

  std::int64_t units_ = 0;
  bool use_bias_ = true;
  Activation activation_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Dense);

}  // namespace kserde
