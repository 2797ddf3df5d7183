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

// Arithmetic in float32 (comparisons and logical operations live in compare_ops.cpp).
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

// keras.ops.cast(x, dtype): NumPy's astype (float -> int truncates, nonzero -> True).
class CastOp final : public Layer {
 public:
  CastOp(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    const JsonValue* v = cfg::find(config(), "dtype");
    std::string name = v != nullptr && v->IsString() ? v->GetString() : "";
    if (v != nullptr && v->IsObject()) name = dtype_policy_name(config());
    auto dt = dtype_from_name(name);
    if (!dt) cfg::fail(describe(), "unknown dtype '" + name + "' for cast");
    dtype_ = *dt;
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    return {inputs[0].to(dtype_)};
  }

 private:
  DType dtype_ = DType::Float32;
};

// keras.ops.where(condition, x1, x2): x1 where condition is nonzero, else x2 (broadcast);
// keras.ops.where(condition): see nonzero_first_axis.
class WhereOp final : public Layer {
 public:
  WhereOp(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {}
  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    if (condition_only(inputs, ctx)) {
      return {nonzero_first_axis(inputs[0])};
    }
    auto v = operands(inputs, ctx, describe());
    if (v.size() != 3) {
      throw ShapeError(describe() + ": expects a condition, or a condition and two values; got " +
                       std::to_string(v.size()) + " arguments");
    }
    const std::string& w = describe();
    const Shape shape = detail::broadcast_shapes(
        detail::broadcast_shapes(v[0].shape(), v[1].shape(), w), v[2].shape(), w);
    const Tensor c = detail::broadcast_to(v[0], shape, w);
    const Tensor a = detail::broadcast_to(v[1], shape, w);
    const Tensor b = detail::broadcast_to(v[2], shape, w);
    Tensor out = Tensor::uninitialized(shape, DType::Float32);  // every element written
    const float* pc = c.f32();
    const float* pa = a.f32();
    const float* pb = b.f32();
    float* po = out.f32_mut();
    for (std::int64_t i = 0; i < out.num_elements(); ++i) po[i] = pc[i] != 0.0f ? pa[i] : pb[i];
    return {out};
  }
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.size() == 3) {
      return {detail::broadcast_shapes(detail::broadcast_shapes(in[0], in[1], describe()), in[2],
                                       describe())};
    }
    if (in.size() == 1) return {Shape{-1}};  // data-dependent length
    return {};
  }

 private:
  // Keras saves where(c) with the arguments [c, None, None].
  static bool condition_only(const TensorList& inputs, const CallContext& ctx) {
    if (inputs.size() != 1) return false;
    if (ctx.call_args == nullptr || !ctx.call_args->IsArray()) return true;
    std::size_t given = 0;
    for (const auto& a : ctx.call_args->GetArray()) given += a.IsNull() ? 0 : 1;
    return given == 1;
  }

  // where(condition) alone: NumPy's np.where(condition) is the tuple np.nonzero(condition), and a
  // Functional graph keeps the node's one declared output, the tuple's first array: the axis-0
  // index of every nonzero element in row-major order (int64, length = the number of nonzeros).
  Tensor nonzero_first_axis(const Tensor& condition) const {
    if (condition.rank() == 0) {
      throw ShapeError(describe() + ": where(condition) needs a condition of rank >= 1");
    }
    const Tensor c = condition.to(DType::Float64);  // nonzero stays nonzero for every dtype
    const auto pc = c.values<double>();
    std::int64_t count = 0;
    for (double x : pc) count += x != 0.0 ? 1 : 0;
    Tensor out = Tensor::uninitialized({count}, DType::Int64);  // every element written
    auto po = out.mutable_values<std::int64_t>();
    const std::int64_t row = condition.dim(0) == 0 ? 1 : c.num_elements() / condition.dim(0);
    std::size_t next = 0;
    for (std::size_t i = 0; i < pc.size(); ++i) {
      if (pc[i] != 0.0) po[next++] = static_cast<std::int64_t>(i) / row;
    }
    return out;
  }
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

template <class T>
std::shared_ptr<Layer> make(std::shared_ptr<JsonDocument> d, Deserializer& c) {
  return std::make_shared<T>(std::move(d), c);
}

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
float mod_(float a, float b) {  // NumPy's mod: the result takes the divisor's sign
  const float r = std::fmod(a, b);
  return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r;
}
float floor_div(float a, float b) {
  return std::floor(a / b);
}
float sin_(float a) {
  return std::sin(a);
}
float cos_(float a) {
  return std::cos(a);
}
float floor_(float a) {
  return std::floor(a);
}
float ceil_(float a) {
  return std::ceil(a);
}
float round_(float a) {  // NumPy rounds halves to even
  return std::nearbyint(a);
}
float sign_(float a) {
  return a > 0.0f ? 1.0f : (a < 0.0f ? -1.0f : 0.0f);
}
float log1p_(float a) {
  return std::log1p(a);
}
float expm1_(float a) {
  return std::expm1(a);
}
float reciprocal(float a) {
  return 1.0f / a;
}
float softplus_(float a) {
  return std::max(a, 0.0f) + std::log1p(std::exp(-std::fabs(a)));
}
float silu_(float a) {
  return a * sigmoid(a);
}
float erf_(float a) {
  return std::erf(a);
}

const BuiltinLayerRegistration kOps[] = {
    {"ops.Add", BinaryFactory<add>{}},
    {"ops.Subtract", BinaryFactory<sub>{}},
    {"ops.Multiply", BinaryFactory<mul>{}},
    {"ops.Divide", BinaryFactory<div>{}},
    {"ops.TrueDivide", BinaryFactory<div>{}},
    {"ops.Power", BinaryFactory<pow_>{}},
    {"ops.Maximum", BinaryFactory<max_>{}},
    {"ops.Minimum", BinaryFactory<min_>{}},
    {"ops.Negative", UnaryFactory<neg>{}},
    {"ops.Absolute", UnaryFactory<abs_>{}},
    {"ops.Abs", UnaryFactory<abs_>{}},
    {"ops.Exp", UnaryFactory<exp_>{}},
    {"ops.Log", UnaryFactory<log_>{}},
    {"ops.Sqrt", UnaryFactory<sqrt_>{}},
    {"ops.Square", UnaryFactory<square>{}},
    {"ops.Tanh", UnaryFactory<tanh_>{}},
    {"ops.Sigmoid", UnaryFactory<sigmoid>{}},
    {"ops.Relu", UnaryFactory<relu>{}},
    {"ops.Rsqrt", UnaryFactory<rsqrt>{}},
    {"ops.Mod", BinaryFactory<mod_>{}},
    {"ops.FloorDivide", BinaryFactory<floor_div>{}},
    {"ops.Sin", UnaryFactory<sin_>{}},
    {"ops.Cos", UnaryFactory<cos_>{}},
    {"ops.Floor", UnaryFactory<floor_>{}},
    {"ops.Ceil", UnaryFactory<ceil_>{}},
    {"ops.Round", UnaryFactory<round_>{}},
    {"ops.Sign", UnaryFactory<sign_>{}},
    {"ops.Log1p", UnaryFactory<log1p_>{}},
    {"ops.Expm1", UnaryFactory<expm1_>{}},
    {"ops.Reciprocal", UnaryFactory<reciprocal>{}},
    {"ops.Softplus", UnaryFactory<softplus_>{}},
    {"ops.Silu", UnaryFactory<silu_>{}},
    {"ops.Erf", UnaryFactory<erf_>{}},
    {"ops.Cast", make<CastOp>},
    {"ops.Where", make<WhereOp>},
};

}  // namespace

}  // namespace kserde
