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
// order) or a number (a scalar), as float32 or, with `f64`, as float64.
TensorList operands(const TensorList& inputs, const CallContext& ctx, const std::string& where,
                    bool f64 = false) {
  auto convert = [f64](const Tensor& t) {
    if (!f64) return ops::as_float32(t);
    return t.dtype() == DType::Float64 ? t : t.to(DType::Float64);
  };
  if (ctx.call_args == nullptr || !ctx.call_args->IsArray()) {
    TensorList out;
    for (const Tensor& t : inputs) out.push_back(convert(t));
    return out;
  }
  TensorList out;
  std::size_t next = 0;
  for (const auto& a : ctx.call_args->GetArray()) {
    if (is_keras_tensor(a)) {
      if (next >= inputs.size()) throw ShapeError(where + ": fewer tensors than arguments");
      out.push_back(convert(inputs[next++]));
    } else if (a.IsNumber() || a.IsBool()) {
      const double v = a.IsBool() ? (a.GetBool() ? 1.0 : 0.0) : a.GetDouble();
      Tensor scalar({}, f64 ? DType::Float64 : DType::Float32);
      if (f64) {
        scalar.mutable_values<double>()[0] = v;
      } else {
        scalar.mutable_values<float>()[0] = static_cast<float>(v);
      }
      out.push_back(std::move(scalar));
    } else {
      throw UnsupportedError(where +
                             ": an operation argument that is neither a tensor nor a number");
    }
  }
  return out;
}

using Binary = float (*)(float, float);
using Unary = float (*)(float);
using Binary64 = double (*)(double, double);
using Unary64 = double (*)(double);

// A float64 operand makes NumPy compute in float64 (numbers beside it are float64 too).
bool any_float64(const TensorList& inputs) {
  for (const Tensor& t : inputs) {
    if (t.dtype() == DType::Float64) return true;
  }
  return false;
}

// Arithmetic in float32, or in double with a float64 operand (comparisons and logical operations
// live in compare_ops.cpp).
class BinaryOp final : public Layer {
 public:
  BinaryOp(std::shared_ptr<JsonDocument> d, Binary f, Binary64 f64)
      : Layer(std::move(d)), f_(f), f64_(f64) {}
  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    const bool f64 = any_float64(inputs);
    auto v = operands(inputs, ctx, describe(), f64);
    if (v.size() != 2)
      throw ShapeError(describe() + ": expects 2 operands, got " + std::to_string(v.size()));
    if (f64) return {detail::broadcast_binary<double>(v[0], v[1], f64_, describe())};
    return {detail::broadcast_binary(v[0], v[1], f_, describe())};
  }
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.size() == 2) return {detail::broadcast_shapes(in[0], in[1], describe())};
    return in.empty() ? std::vector<Shape>{} : std::vector<Shape>{in[0]};
  }

 private:
  Binary f_;
  Binary64 f64_;
};

class UnaryOp final : public Layer {
 public:
  UnaryOp(std::shared_ptr<JsonDocument> d, Unary f, Unary64 f64)
      : Layer(std::move(d)), f_(f), f64_(f64) {}
  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    const bool f64 = any_float64(inputs);
    auto v = operands(inputs, ctx, describe(), f64);
    if (v.size() != 1) throw ShapeError(describe() + ": expects 1 operand");
    Tensor y = v[0].clone();
    if (f64) {
      for (double& x : y.mutable_values<double>()) x = f64_(x);
    } else {
      for (float& x : y.mutable_values<float>()) x = f_(x);
    }
    return {y};
  }

 private:
  Unary f_;
  Unary64 f64_;
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
    const bool f64 = any_float64(inputs);  // NumPy's result type of x1 and x2
    auto v = operands(inputs, ctx, describe(), f64);
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
    if (f64) {
      Tensor out = Tensor::uninitialized(shape, DType::Float64);  // every element written
      const auto pc = c.values<double>();
      const auto pa = a.values<double>();
      const auto pb = b.values<double>();
      auto po = out.mutable_values<double>();
      for (std::size_t i = 0; i < po.size(); ++i) po[i] = pc[i] != 0.0 ? pa[i] : pb[i];
      return {out};
    }
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

template <Binary F, Binary64 F64>
struct BinaryFactory {
  std::shared_ptr<Layer> operator()(std::shared_ptr<JsonDocument> d, Deserializer&) const {
    return std::make_shared<BinaryOp>(std::move(d), F, F64);
  }
};

template <Unary F, Unary64 F64>
struct UnaryFactory {
  std::shared_ptr<Layer> operator()(std::shared_ptr<JsonDocument> d, Deserializer&) const {
    return std::make_shared<UnaryOp>(std::move(d), F, F64);
  }
};

template <class T>
std::shared_ptr<Layer> make(std::shared_ptr<JsonDocument> d, Deserializer& c) {
  return std::make_shared<T>(std::move(d), c);
}

template <class T>
T add(T a, T b) {
  return a + b;
}
template <class T>
T sub(T a, T b) {
  return a - b;
}
template <class T>
T mul(T a, T b) {
  return a * b;
}
template <class T>
T div(T a, T b) {
  return a / b;
}
template <class T>
T pow_(T a, T b) {
  return std::pow(a, b);
}
template <class T>
T max_(T a, T b) {
  return std::max(a, b);
}
template <class T>
T min_(T a, T b) {
  return std::min(a, b);
}
template <class T>
T neg(T a) {
  return -a;
}
template <class T>
T abs_(T a) {
  return std::fabs(a);
}
template <class T>
T exp_(T a) {
  return std::exp(a);
}
template <class T>
T log_(T a) {
  return std::log(a);
}
template <class T>
T sqrt_(T a) {
  return std::sqrt(a);
}
template <class T>
T square(T a) {
  return a * a;
}
template <class T>
T tanh_(T a) {
  return std::tanh(a);
}
template <class T>
T sigmoid(T a) {
  return T(1) / (T(1) + std::exp(-a));
}
template <class T>
T relu(T a) {
  return a > 0 ? a : T(0);
}
template <class T>
T rsqrt(T a) {
  return T(1) / std::sqrt(a);
}
template <class T>
T mod_(T a, T b) {  // NumPy's mod: the result takes the divisor's sign
  const T r = std::fmod(a, b);
  return (r != T(0) && ((r < T(0)) != (b < T(0)))) ? r + b : r;
}
template <class T>
T floor_div(T a, T b) {
  return std::floor(a / b);
}
template <class T>
T sin_(T a) {
  return std::sin(a);
}
template <class T>
T cos_(T a) {
  return std::cos(a);
}
template <class T>
T floor_(T a) {
  return std::floor(a);
}
template <class T>
T ceil_(T a) {
  return std::ceil(a);
}
template <class T>
T round_(T a) {  // NumPy rounds halves to even
  return std::nearbyint(a);
}
template <class T>
T sign_(T a) {
  return a > T(0) ? T(1) : (a < T(0) ? -T(1) : T(0));
}
template <class T>
T log1p_(T a) {
  return std::log1p(a);
}
template <class T>
T expm1_(T a) {
  return std::expm1(a);
}
template <class T>
T reciprocal(T a) {
  return T(1) / a;
}
template <class T>
T softplus_(T a) {
  return std::max(a, T(0)) + std::log1p(std::exp(-std::fabs(a)));
}
template <class T>
T silu_(T a) {
  return a * sigmoid(a);
}
template <class T>
T erf_(T a) {
  return std::erf(a);
}

const BuiltinLayerRegistration kOps[] = {
    {"ops.Add", BinaryFactory<add<float>, add<double>>{}},
    {"ops.Subtract", BinaryFactory<sub<float>, sub<double>>{}},
    {"ops.Multiply", BinaryFactory<mul<float>, mul<double>>{}},
    {"ops.Divide", BinaryFactory<div<float>, div<double>>{}},
    {"ops.TrueDivide", BinaryFactory<div<float>, div<double>>{}},
    {"ops.Power", BinaryFactory<pow_<float>, pow_<double>>{}},
    {"ops.Maximum", BinaryFactory<max_<float>, max_<double>>{}},
    {"ops.Minimum", BinaryFactory<min_<float>, min_<double>>{}},
    {"ops.Negative", UnaryFactory<neg<float>, neg<double>>{}},
    {"ops.Absolute", UnaryFactory<abs_<float>, abs_<double>>{}},
    {"ops.Abs", UnaryFactory<abs_<float>, abs_<double>>{}},
    {"ops.Exp", UnaryFactory<exp_<float>, exp_<double>>{}},
    {"ops.Log", UnaryFactory<log_<float>, log_<double>>{}},
    {"ops.Sqrt", UnaryFactory<sqrt_<float>, sqrt_<double>>{}},
    {"ops.Square", UnaryFactory<square<float>, square<double>>{}},
    {"ops.Tanh", UnaryFactory<tanh_<float>, tanh_<double>>{}},
    {"ops.Sigmoid", UnaryFactory<sigmoid<float>, sigmoid<double>>{}},
    {"ops.Relu", UnaryFactory<relu<float>, relu<double>>{}},
    {"ops.Rsqrt", UnaryFactory<rsqrt<float>, rsqrt<double>>{}},
    {"ops.Mod", BinaryFactory<mod_<float>, mod_<double>>{}},
    {"ops.FloorDivide", BinaryFactory<floor_div<float>, floor_div<double>>{}},
    {"ops.Sin", UnaryFactory<sin_<float>, sin_<double>>{}},
    {"ops.Cos", UnaryFactory<cos_<float>, cos_<double>>{}},
    {"ops.Floor", UnaryFactory<floor_<float>, floor_<double>>{}},
    {"ops.Ceil", UnaryFactory<ceil_<float>, ceil_<double>>{}},
    {"ops.Round", UnaryFactory<round_<float>, round_<double>>{}},
    {"ops.Sign", UnaryFactory<sign_<float>, sign_<double>>{}},
    {"ops.Log1p", UnaryFactory<log1p_<float>, log1p_<double>>{}},
    {"ops.Expm1", UnaryFactory<expm1_<float>, expm1_<double>>{}},
    {"ops.Reciprocal", UnaryFactory<reciprocal<float>, reciprocal<double>>{}},
    {"ops.Softplus", UnaryFactory<softplus_<float>, softplus_<double>>{}},
    {"ops.Silu", UnaryFactory<silu_<float>, silu_<double>>{}},
    {"ops.Erf", UnaryFactory<erf_<float>, erf_<double>>{}},
    {"ops.Cast", make<CastOp>},
    {"ops.Where", make<WhereOp>},
};

}  // namespace

}  // namespace kserde
