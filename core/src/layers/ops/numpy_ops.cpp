// Raw Keras operations inside Functional graphs (spec §3.7: e.g. `x + 3.0` or keras.ops.add
// saved as class "Add", module "keras.src.ops.numpy", no weights). Operands come from the node's
// saved arguments: tensors in order, numbers as constants, with NumPy broadcasting.
#include <cmath>
#include <functional>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

bool is_keras_tensor(const JsonValue& v) {
  return cfg::is_marker(v, "__keras_tensor__");
}

// Operands in argument order: each positional argument is a tensor (taken from `inputs` in
// order) or a number (a float32 scalar).
TensorList operands(const TensorList& inputs, const CallContext& ctx, const std::string& where) {
  if (ctx.call_args == nullptr || !ctx.call_args->IsArray()) {
    TensorList out;
    for (const Tensor& t : inputs) out.push_back(ops::as_float32(t));
    return out;
  }
  TensorList out;
  std::size_t next = 0;
  for (const auto& a : ctx.call_args->GetArray()) {
    if (is_keras_tensor(a)) {
      if (next >= inputs.size()) throw ShapeError(where + ": fewer tensors than arguments");
      out.push_back(ops::as_float32(inputs[next++]));
    } else if (a.IsNumber() || a.IsBool()) {
      const float v = a.IsBool() ? (a.GetBool() ? 1.0f : 0.0f) : static_cast<float>(a.GetDouble());
      out.push_back(Tensor::from_floats({}, std::span<const float>(&v, 1)));
    } else {
      throw UnsupportedError(where +
                             ": an operation argument that is neither a tensor nor a number");
    }
  }
  return out;
}

using Binary = float (*)(float, float);
using Unary = float (*)(float);

class BinaryOp final : public Layer {
 public:
  BinaryOp(std::shared_ptr<JsonDocument> d, Binary f) : Layer(std::move(d)), f_(f) {}
  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    auto v = operands(inputs, ctx, describe());
    if (v.size() != 2)
      throw ShapeError(describe() + ": expects 2 operands, got " + std::to_string(v.size()));
    return {detail::broadcast_binary(v[0], v[1], f_, describe())};
  }
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.size() == 2) return {detail::broadcast_shapes(in[0], in[1], describe())};
    return in.empty() ? std::vector<Shape>{} : std::vector<Shape>{in[0]};
  }

 private:
  Binary f_;
};

class UnaryOp final : public Layer {
 public:
  UnaryOp(std::shared_ptr<JsonDocument> d, Unary f) : Layer(std::move(d)), f_(f) {}
  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    auto v = operands(inputs, ctx, describe());
    if (v.size() != 1) throw ShapeError(describe() + ": expects 1 operand");
    Tensor y = v[0].clone();
    for (float& x : y.mutable_values<float>()) x = f_(x);
    return {y};
  }

 private:
  Unary f_;
};

template <Binary F>
struct BinaryFactory {
  std::shared_ptr<Layer> operator()(std::shared_ptr<JsonDocument> d, Deserializer&) const {
    return std::make_shared<BinaryOp>(std::move(d), F);
  }
};

template <Unary F>
struct UnaryFactory {
  std::shared_ptr<Layer> operator()(std::shared_ptr<JsonDocument> d, Deserializer&) const {
    return std::make_shared<UnaryOp>(std::move(d), F);
  }
};

float add(float a, float b) {
  return a + b;
}
float sub(float a, float b) {
  return a - b;
}
float mul(float a, float b) {
  return a * b;
}
float div(float a, float b) {
  return a / b;
}
float pow_(float a, float b) {
  return std::pow(a, b);
}
float max_(float a, float b) {
  return std::max(a, b);
}
float min_(float a, float b) {
  return std::min(a, b);
}
float neg(float a) {
  return -a;
}
float abs_(float a) {
  return std::fabs(a);
}
float exp_(float a) {
  return std::exp(a);
}
float log_(float a) {
  return std::log(a);
}
float sqrt_(float a) {
  return std::sqrt(a);
}
float square(float a) {
  return a * a;
}
float tanh_(float a) {
  return std::tanh(a);
}
float sigmoid(float a) {
  return 1.0f / (1.0f + std::exp(-a));
}
float relu(float a) {
  return a > 0 ? a : 0.0f;
}
float rsqrt(float a) {
  return 1.0f / std::sqrt(a);
}

const BuiltinLayerRegistration kOps[] = {
    {"ops.Add", BinaryFactory<add>{}},        {"ops.Subtract", BinaryFactory<sub>{}},
    {"ops.Multiply", BinaryFactory<mul>{}},   {"ops.Divide", BinaryFactory<div>{}},
    {"ops.TrueDivide", BinaryFactory<div>{}}, {"ops.Power", BinaryFactory<pow_>{}},
    {"ops.Maximum", BinaryFactory<max_>{}},   {"ops.Minimum", BinaryFactory<min_>{}},
    {"ops.Negative", UnaryFactory<neg>{}},    {"ops.Absolute", UnaryFactory<abs_>{}},
    {"ops.Abs", UnaryFactory<abs_>{}},        {"ops.Exp", UnaryFactory<exp_>{}},
    {"ops.Log", UnaryFactory<log_>{}},        {"ops.Sqrt", UnaryFactory<sqrt_>{}},
    {"ops.Square", UnaryFactory<square>{}},   {"ops.Tanh", UnaryFactory<tanh_>{}},
    {"ops.Sigmoid", UnaryFactory<sigmoid>{}}, {"ops.Relu", UnaryFactory<relu>{}},
    {"ops.Rsqrt", UnaryFactory<rsqrt>{}},
};

}  // namespace

}  // namespace kserde
