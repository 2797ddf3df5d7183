// Comparison and logical operations (keras.ops equal, not_equal, greater, greater_equal, less,
// less_equal, logical_and/or/xor/not) inside Functional graphs, with bool results. NumPy compares
// in the operands' promoted dtype, so values are compared exactly: integer operands as int64,
// anything else as double. A number argument is first rounded to the floating dtype of the
// tensors beside it (NumPy 2's weak Python scalars: `x_float32 == 0.1` compares with
// float32(0.1)); next to integer tensors only, a float number stays double and an int number
// makes the comparison an integer one.
#include <cstdint>
#include <utility>
#include <vector>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

enum class Op { Eq, Ne, Gt, Ge, Lt, Le, And, Or, Xor, Not };

template <class T>
bool apply(Op op, T a, T b) {
  switch (op) {
    case Op::Eq:
      return a == b;
    case Op::Ne:
      return a != b;
    case Op::Gt:
      return a > b;
    case Op::Ge:
      return a >= b;
    case Op::Lt:
      return a < b;
    case Op::Le:
      return a <= b;
    case Op::And:
      return a != T(0) && b != T(0);
    case Op::Or:
      return a != T(0) || b != T(0);
    case Op::Xor:
      return (a != T(0)) != (b != T(0));
    case Op::Not:
      return a == T(0);
  }
  return false;
}

// Floating dtypes ordered by width (float16 and bfloat16 together promote to float32).
int float_rank(DType d) {
  switch (d) {
    case DType::Float16:
    case DType::BFloat16:
      return 1;
    case DType::Float32:
      return 2;
    case DType::Float64:
      return 3;
    default:
      return 0;
  }
}

double round_to_dtype(double v, DType d) {
  switch (d) {
    case DType::Float16:
      return half_to_float(float_to_half(static_cast<float>(v)));
    case DType::BFloat16:
      return bfloat16_to_float(float_to_bfloat16(static_cast<float>(v)));
    case DType::Float32:
      return static_cast<double>(static_cast<float>(v));
    default:
      return v;
  }
}

struct Operand {
  bool is_tensor = false;
  Tensor tensor;             // a tensor argument
  double number = 0.0;       // a number argument
  std::int64_t integer = 0;  // the same when it is an int (or bool)
  bool number_is_int = false;
};

// NumPy's promotion among floating dtypes (0 = none yet).
DType wider_float(DType a, DType b) {
  if (float_rank(b) > float_rank(a)) std::swap(a, b);
  if (float_rank(a) == 1 && float_rank(b) == 1 && a != b) return DType::Float32;
  return a;
}

class CompareOp final : public Layer {
 public:
  CompareOp(std::shared_ptr<JsonDocument> d, Op op, std::size_t arity)
      : Layer(std::move(d)), op_(op), arity_(arity) {}

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    std::vector<Operand> v = gather(inputs, ctx);
    if (v.size() != arity_) {
      throw ShapeError(describe() + ": expects " + std::to_string(arity_) + " operands, got " +
                       std::to_string(v.size()));
    }
    bool integral = true;
    DType widest = DType::Bool;  // the widest floating tensor dtype; Bool: none
    for (const Operand& o : v) {
      if (o.is_tensor) {
        integral = integral && !is_floating(o.tensor.dtype());
        widest = wider_float(widest, o.tensor.dtype());
      } else {
        integral = integral && o.number_is_int;
      }
    }
    const DType domain = integral ? DType::Int64 : DType::Float64;
    Shape shape;
    for (const Operand& o : v) {
      const Shape s = o.is_tensor ? o.tensor.shape() : Shape{};
      shape = detail::broadcast_shapes(shape, s, describe());
    }
    TensorList full;
    for (const Operand& o : v) {
      Tensor t;
      if (o.is_tensor) {
        t = o.tensor.dtype() == domain ? o.tensor : o.tensor.to(domain);
      } else if (integral) {
        t = Tensor::recycled_zeros({}, DType::Int64);
        t.mutable_values<std::int64_t>()[0] = o.integer;
      } else {
        t = Tensor::recycled_zeros({}, DType::Float64);
        t.mutable_values<double>()[0] = round_to_dtype(o.number, widest);
      }
      full.push_back(detail::broadcast_to(t, shape, describe()));
    }
    Tensor out = Tensor::recycled_zeros(shape, DType::Bool);
    if (integral) {
      fill<std::int64_t>(full, out);
    } else {
      fill<double>(full, out);
    }
    return {out};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.size() == 2) return {detail::broadcast_shapes(in[0], in[1], describe())};
    return in.empty() ? std::vector<Shape>{} : std::vector<Shape>{in[0]};
  }

 private:
  // Arguments in order: tensors from `inputs`, numbers from the node's saved arguments.
  std::vector<Operand> gather(const TensorList& inputs, const CallContext& ctx) const {
    std::vector<Operand> out;
    if (ctx.call_args == nullptr || !ctx.call_args->IsArray()) {
      for (const Tensor& t : inputs) out.push_back(Operand{true, t});
      return out;
    }
    std::size_t next = 0;
    for (const auto& a : ctx.call_args->GetArray()) {
      if (cfg::is_marker(a, "__keras_tensor__")) {
        if (next >= inputs.size()) throw ShapeError(describe() + ": fewer tensors than arguments");
        out.push_back(Operand{true, inputs[next++]});
      } else if (a.IsBool()) {
        out.push_back(Operand{false, Tensor(), a.GetBool() ? 1.0 : 0.0, a.GetBool() ? 1 : 0, true});
      } else if (a.IsInt64()) {
        const std::int64_t i = a.GetInt64();
        out.push_back(Operand{false, Tensor(), static_cast<double>(i), i, true});
      } else if (a.IsNumber()) {
        out.push_back(Operand{false, Tensor(), a.GetDouble(), 0, false});
      } else {
        throw UnsupportedError(describe() +
                               ": an operation argument that is neither a tensor nor a number");
      }
    }
    return out;
  }

  template <class T>
  void fill(const TensorList& full, Tensor& out) const {
    auto o = out.mutable_values<bool>();
    const T* a = full[0].values<T>().data();
    if (arity_ == 1) {
      for (std::size_t i = 0; i < o.size(); ++i) o[i] = apply<T>(op_, a[i], T(0));
      return;
    }
    const T* b = full[1].values<T>().data();
    for (std::size_t i = 0; i < o.size(); ++i) o[i] = apply<T>(op_, a[i], b[i]);
  }

  Op op_;
  std::size_t arity_;
};

template <Op O, std::size_t Arity = 2>
std::shared_ptr<Layer> make(std::shared_ptr<JsonDocument> d, Deserializer&) {
  return std::make_shared<CompareOp>(std::move(d), O, Arity);
}

const BuiltinLayerRegistration kCompareOps[] = {
    {"ops.Equal", make<Op::Eq>},       {"ops.NotEqual", make<Op::Ne>},
    {"ops.Greater", make<Op::Gt>},     {"ops.GreaterEqual", make<Op::Ge>},
    {"ops.Less", make<Op::Lt>},        {"ops.LessEqual", make<Op::Le>},
    {"ops.LogicalAnd", make<Op::And>}, {"ops.LogicalOr", make<Op::Or>},
    {"ops.LogicalXor", make<Op::Xor>}, {"ops.LogicalNot", make<Op::Not, 1>},
};

}  // namespace

}  // namespace kserde
